"""Every image recipe trains under train.py's LightningCLI (fast_dev_run on CPU, tiny sizes)."""

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "configs" / "image").glob("*.yaml"))

# Shrinks per tokenizer family, merged over the recipe's own tokenizer_args (32 px inputs).
TINY = {
    "titok": {"image_size": 32, "encoder_width": 32, "decoder_width": 32, "encoder_depth": 1,
              "decoder_depth": 1, "encoder_heads": 2, "decoder_heads": 2, "mlp_ratio": 2.0},
    "vqgan": {"image_size": 32, "ch": 8, "z_channels": 8, "num_res_blocks": 1},
}  # fmt: skip
#: Composite tokenizers whose recipes the smoke run trains as their tiny variant instead.
TINY_VARIANT = {"titok_cpu_latent128": "titok_latent_test"}


def load_train_module():
    spec = importlib.util.spec_from_file_location("zoo_train_script", ROOT / "train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_there_is_a_recipe_per_image_family():
    names = {yaml.safe_load(p.read_text())["model"]["tokenizer"].split("_")[0] for p in RECIPES}
    assert names == {"titok", "vqgan"}
    assert len(RECIPES) >= 3


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_recipe_fast_dev_run(recipe, tmp_path, photo_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)  # recipes name relative runs/ folders
    cfg = yaml.safe_load(recipe.read_text())
    family = cfg["model"]["tokenizer"].split("_")[0]
    tokenizer_args = {**cfg["model"].get("tokenizer_args", {}), **TINY[family]}
    # A two-stage 1D tokenizer trained whole (in pixels, 2D stage frozen): its tiny variant.
    tiny_name = TINY_VARIANT.get(cfg["model"]["tokenizer"])
    if tiny_name:  # only the composite's own switches carry over
        tokenizer_args = {k: v for k, v in tokenizer_args.items() if k == "train_pixel_decoder"}
    args = [
        "fit",
        "--config", str(recipe),
        "--config", str(ROOT / "configs" / "trainer" / "cpu_smoke.yaml"),
        "--model.tokenizer_args", json.dumps(tokenizer_args),
        "--model.adversarial.start", "0",  # exercise the adversarial step too
        "--data.train_cache", "null",
        "--data.train_dir", str(photo_dir),
        "--data.val_dir", str(photo_dir),
        "--data.crop_size", "32",
        "--data.min_short_side", "32",
        "--data.max_short_side", "48",
        "--data.val_short_side", "40",
    ]  # fmt: skip
    if tiny_name:  # 4 tokens: the recipe's validation token counts do not apply
        args += ["--model.tokenizer", tiny_name, "--model.validation.rates", "[1, 4]"]
    if cfg["model"].get("init_weights"):  # a second stage: the tiny model starts at random
        args += ["--model.init_weights", "null"]
    if "_latents_" in str(cfg["data"]["init_args"].get("train_cache")):
        # A 1D stage trained on a frozen 2D tokenizer's latent grids (zoo.data.latents): the
        # tiny VQGAN's 8 x 8 x 3 grids of the same photos stand in for the recipe's caches.
        cache = _tiny_latent_cache(photo_dir, tmp_path.parent / f"{tmp_path.name}_latents")
        grid = {"image_size": 8, "patch_size": 2, "in_channels": 3}
        args[args.index("--model.tokenizer_args") + 1] = json.dumps(tokenizer_args | grid)
        args[args.index("--data.train_cache") + 1] = str(cache)
        args += ["--data.train_dir", "null", "--data.val_cache", str(cache), "--data.val_dir",
                 "null", "--data.crop_size", "8"]  # fmt: skip
    cli = load_train_module().cli_main(args)
    assert cli.trainer.fast_dev_run == 2
    # fast_dev_run=2 caps optimizer steps at 2: one batch with generator + discriminator steps,
    # or two generator-only batches for reconstruction-only recipes (adversarial weight 0).
    adversarial = cli.model.discriminator is not None
    assert adversarial == (cfg["model"].get("adversarial", {}).get("weight", 0.1) > 0)
    assert int(cli.model.step_count) == (1 if adversarial else 2)
    assert cli.trainer.global_step == 2
    assert cli.model.tokenizer.architecture == (tiny_name or cfg["model"]["tokenizer"])
    # A smoke run leaves nothing behind (no checkpoints, no logs).
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _tiny_latent_cache(photo_dir: Path, folder: Path) -> Path:
    import torch

    import zoo
    from zoo.data.latents import build_folder_latent_cache

    torch.manual_seed(0)
    return build_folder_latent_cache(zoo.create_tokenizer("vqgan_test"), photo_dir,
                                     folder / "latents.safetensors", crop_size=32, short_side=40,
                                     crops_per_image=2, progress=False)  # fmt: skip


def test_second_stages_start_from_the_last_checkpoint_of_a_recipe_here():
    """A recipe's ``init_weights`` names the ``last.ckpt`` another recipe's checkpoints go to,
    for the same tokenizer, so ``train.py fit`` on the first then the second reproduces it; or
    the folder another recipe's export command writes (a stage whose input is an export, e.g.
    two joined stages). Never a shipped tag: the tag is the end of the chain, and replacing its
    weights would silently change where the stage starts."""
    last, exports = {}, set()
    for path in RECIPES:
        cfg = yaml.safe_load(path.read_text())
        for cb in cfg["trainer"].get("callbacks", []):
            if cb["class_path"].endswith("ModelCheckpoint"):
                last[cb["init_args"]["dirpath"] + "/last.ckpt"] = cfg["model"]["tokenizer"]
        # The header's commands, continuation lines joined: "zoo.training.export CKPT OUT ...".
        header = "\n".join(line[1:] for line in path.read_text().splitlines()
                           if line.startswith("#")).replace("\\\n", " ")  # fmt: skip
        for line in header.splitlines():
            words = line.split()
            if "zoo.training.export" in words:
                exports.add(words[words.index("zoo.training.export") + 2])
    stages = [yaml.safe_load(p.read_text())["model"] for p in RECIPES]
    stages = [m for m in stages if m.get("init_weights")]
    assert stages  # vqgan_cpu_f8_usage.yaml
    for model in stages:
        source = model["init_weights"]
        if source.endswith(".ckpt"):
            assert last.get(source) == model["tokenizer"], source
        else:
            assert source in exports, source


def test_resume_from_last_checkpoint_through_the_cli(tmp_path, photo_dir, monkeypatch):
    # The recipe's ModelCheckpoint writes to a relative runs/ folder: keep it inside tmp_path.
    monkeypatch.chdir(tmp_path)
    recipe = ROOT / "configs" / "image" / "vqgan_cpu_f8.yaml"
    cfg = yaml.safe_load(recipe.read_text())
    tokenizer_args = {**cfg["model"]["tokenizer_args"], **TINY["vqgan"]}
    common = [
        "fit", "--config", str(recipe),
        "--model.tokenizer_args", json.dumps(tokenizer_args),
        "--model.criterion.losses", '{"l1": 1.0}', "--model.adversarial.start", "0",
        "--data.train_cache", "null", "--data.train_dir", str(photo_dir),
        "--data.val_dir", str(photo_dir), "--data.crop_size", "32",
        "--data.min_short_side", "32", "--data.max_short_side", "48",
        "--data.batch_size", "2", "--data.num_workers", "0", "--data.crops_per_image", "2",
        "--data.val_crops_per_image", "1",
        "--trainer.val_check_interval", "2", "--trainer.limit_val_batches", "1",
        "--trainer.num_sanity_val_steps", "0", "--trainer.enable_progress_bar", "false",
        "--trainer.accelerator", "cpu",
    ]  # fmt: skip
    cli_main = load_train_module().cli_main
    first = cli_main(common + ["--trainer.max_steps", "4"])
    assert int(first.model.step_count) == 2 and first.trainer.global_step == 4
    last = tmp_path / "runs" / "vqgan_cpu_f8" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    second = cli_main(common + ["--trainer.max_steps", "8", "--ckpt_path", "last"])
    # Continued from last.ckpt: two more batches, not four.
    assert int(second.model.step_count) == 4 and second.trainer.global_step == 8
