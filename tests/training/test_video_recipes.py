"""Every video recipe trains under train.py's LightningCLI (fast_dev_run on CPU) with its family's
tiny variant, on real clips (tests/fixtures/video: pans and zooms across real photos, bikes)."""

import importlib.util
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "configs" / "video").glob("*.yaml"))
CLIPS = ROOT / "tests" / "fixtures" / "video"
#: Tiny variant and clip length (a count each family takes) per family.
TINY = {"causal3d": ("causal3d_test", 5), "cvivit": ("cvivit_test", 5), "larp": ("larp_test", 4)}


def test_there_is_a_recipe_per_video_family():
    families = {yaml.safe_load(p.read_text())["model"]["tokenizer"].split("_")[0] for p in RECIPES}
    assert families == set(TINY)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_video_recipe_fast_dev_run(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = yaml.safe_load(recipe.read_text())
    tiny, frames = TINY[cfg["model"]["tokenizer"].split("_")[0]]
    spec = importlib.util.spec_from_file_location("zoo_train_script", ROOT / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    cli = train.cli_main(
        ["fit", "--config", str(recipe),
         "--config", str(ROOT / "configs" / "trainer" / "cpu_smoke.yaml"),
         "--model.tokenizer", tiny, "--model.tokenizer_args", "{}",
         "--data.train_dir", str(CLIPS), "--data.val_dir", str(CLIPS),
         "--data.num_frames", str(frames), "--data.crop_size", "16",
         "--data.val_short_side", "16", "--data.batch_size", "2", "--data.num_workers", "0"]
    )  # fmt: skip
    m = cli.model
    assert m.modality.name == "video" and m.tokenizer.architecture == tiny
    assert int(m.step_count) == 2 and cli.trainer.global_step == 2
    assert {"train/rec", "train/psnr"} <= set(cli.trainer.logged_metrics)
    assert not (tmp_path / "runs").exists()  # a smoke run leaves nothing behind
