"""Every YAML under configs/ parses against train.py's LightningCLI (litgpt-style config test).

Recipes (configs/image, ...) are also instantiated: model, data module and trainer are built on
CPU. Trainer configs are composed after every recipe, as users run them; those that need GPUs
(ddp, fsdp) are parsed and validated, not instantiated.
"""

import importlib.util
from pathlib import Path

import pytest
import yaml

import zoo

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
RECIPES = sorted(p for p in CONFIGS.rglob("*.yaml") if p.parent.name != "trainer")
TRAINER_CONFIGS = sorted((CONFIGS / "trainer").glob("*.yaml"))


def _cli_main():
    spec = importlib.util.spec_from_file_location("zoo_train_script", ROOT / "train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.cli_main


def _parse(configs, capsys):
    """Parse + validate without instantiating; returns the resolved config as a dict."""
    args = ["fit"]
    for c in configs:
        args += ["--config", str(c)]
    with pytest.raises(SystemExit) as exit_info:
        _cli_main()(args + ["--print_config"])
    assert exit_info.value.code in (None, 0), capsys.readouterr().err[-2000:]
    return yaml.safe_load(capsys.readouterr().out)


def test_configs_exist():
    assert RECIPES and {p.stem for p in TRAINER_CONFIGS} >= {"cpu_smoke", "ddp", "fsdp", "bf16"}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_recipe_parses_and_instantiates(recipe, capsys):
    resolved = _parse([recipe], capsys)
    assert resolved["model"]["tokenizer"] in zoo.list_tokenizers()
    cli = _cli_main()(["--config", str(recipe)], run=False)  # run=False: no subcommand
    assert cli.model.tokenizer.architecture == resolved["model"]["tokenizer"]
    data = resolved["data"]
    assert type(cli.datamodule).__name__ == data["class_path"].rsplit(".", 1)[1]
    for key in ("crop_size", "sample_rate"):
        if key in data["init_args"]:
            assert cli.datamodule.hparams[key] == data["init_args"][key]
    if cli.model.modality.name == "audio":  # data and model agree on the rate
        assert cli.datamodule.sample_rate == cli.model.tokenizer.sample_rate
    # A checkpoint callback that keeps last.ckpt, so `--ckpt_path last` resumes.
    assert any(getattr(cb, "save_last", False) for cb in cli.trainer.callbacks)


@pytest.mark.parametrize("trainer_cfg", TRAINER_CONFIGS, ids=lambda p: p.stem)
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_trainer_config_composes_with_recipe(recipe, trainer_cfg, capsys):
    resolved = _parse([recipe, trainer_cfg], capsys)
    own = yaml.safe_load(trainer_cfg.read_text())
    for key, value in own.get("trainer", {}).items():
        got = resolved["trainer"][key]
        if isinstance(value, dict):
            assert got["class_path"] == value["class_path"]
            for k, v in value.get("init_args", {}).items():
                assert got["init_args"][k] == v
        else:
            assert got == value, key
    # The recipe's model survives composition; a trainer config's model settings (fsdp.yaml:
    # adversarial.adaptive_weight) merge into the recipe's sections field by field.
    model = yaml.safe_load(recipe.read_text())["model"]
    assert resolved["model"]["tokenizer"] == model["tokenizer"]
    for section, values in own.get("model", {}).items():
        for key, value in values.items():
            assert resolved["model"][section][key] == value, (section, key)
        for key, value in (model.get(section) or {}).items():
            if key not in values:
                assert resolved["model"][section][key] == value, (section, key)


@pytest.mark.parametrize("trainer_cfg", ["cpu_smoke", "bf16"])
def test_cpu_trainer_configs_instantiate(trainer_cfg):
    recipe = CONFIGS / "image" / "vqgan_cpu_f8.yaml"
    cli = _cli_main()(
        ["--config", str(recipe), "--config", str(CONFIGS / "trainer" / f"{trainer_cfg}.yaml"),
         "--trainer.accelerator", "cpu"],
        run=False,
    )  # fmt: skip
    expected = {"cpu_smoke": "32-true", "bf16": "bf16-mixed"}[trainer_cfg]
    assert cli.trainer.precision == expected
