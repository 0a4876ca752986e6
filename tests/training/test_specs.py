"""The module's four specs: recipes and checkpoints written with the flat arguments of earlier
versions are refused with the new spelling (recipes) or migrated to the same settings
(checkpoints)."""

import importlib.util
from pathlib import Path

import pytest
import torch
import yaml

from zoo.training import TokenizerModule
from zoo.training.recipes import legacy_recipe_error, migrated_model_section
from zoo.training.specs import AdversarialSpec, migrate_legacy_arguments

ROOT = Path(__file__).resolve().parents[2]

# configs/audio/wavtokenizer_16khz.yaml and configs/image/vqgan_cpu_f8.yaml as they were written
# for the flat arguments.
OLD_WAVTOKENIZER = """
tokenizer: wavtokenizer_75hz
tokenizer_args: {sample_rate: 16000}
lr: 2.0e-4
betas: [0.8, 0.9]
weight_decay: 0.0
warmup_steps: 1000
grad_clip: 1.0
recon_weight: 0.0
perceptual_loss: null
mel_weight: 45.0
quantizer_weight: 1.0
discriminator: [mpd, mrd]
disc_weight: 1.0
feature_matching_weight: 1.0
adaptive_disc_weight: false
ema_decay: null
"""
OLD_VQGAN = """
tokenizer: vqgan_f8_fsq
tokenizer_args: {image_size: 64, ch: 32, z_channels: 64}
lr: 2.0e-4
weight_decay: 1.0e-4
warmup_steps: 500
grad_clip: 1.0
recon_loss: l1
perceptual_loss: efflite0
perceptual_weight: 1.0
disc_weight: 0.1
disc_start: 10000
disc_layers: 3
disc_loss: hinge
adaptive_disc_weight: true
ema_decay: 0.999
"""


@pytest.mark.parametrize(
    ("old", "recipe"),
    [(OLD_WAVTOKENIZER, "audio/wavtokenizer_16khz.yaml"), (OLD_VQGAN, "image/vqgan_cpu_f8.yaml")],
)
def test_migration_gives_the_shipped_recipe(old, recipe):
    new = yaml.safe_load((ROOT / "configs" / recipe).read_text())["model"]
    assert migrated_model_section(yaml.safe_load(old)) == new


def test_auto_values_resolve_to_the_modality_defaults():
    image = migrate_legacy_arguments(
        {"tokenizer": "vqgan_test", "recon_weight": 2.0}, {"l1": 1.0, "efflite0": 1.0}
    )
    assert image["criterion"]["losses"] == {"l1": 2.0, "efflite0": 1.0}
    audio = migrate_legacy_arguments(
        {"tokenizer": "seanet_test", "perceptual_loss": "auto", "stft_weight": 0.5,
         "spectral_args": {"stft": {"n_ffts": [64]}}, "eval_num_codebooks": [1, 2]},
        {"l1": 1.0, "mel": 1.0},
    )  # fmt: skip
    assert audio["criterion"]["losses"] == {
        "l1": 1.0, "mel": 1.0, "stft": {"weight": 0.5, "n_ffts": [64]}
    }  # fmt: skip
    assert audio["validation"] == {"rates": [1, 2]}
    assert migrate_legacy_arguments({"disc_channels": 16}, {})["adversarial"] == {
        "args": {"patchgan": {"channels": 16}}
    }


def _train_script():
    spec = importlib.util.spec_from_file_location("zoo_train_script", ROOT / "train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_train_refuses_flat_recipes_and_flags_with_the_new_spelling(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump({"model": yaml.safe_load(OLD_VQGAN)}))
    with pytest.raises(SystemExit) as err:
        _train_script().cli_main(["fit", "--config", str(old)], run=False)
    message = str(err.value)
    assert "flat arguments of earlier versions" in message and "'disc_start'" in message
    assert yaml.safe_load(message.split("zoo.training.recipes")[-1].split(":\n", 1)[1]) == {
        "model": yaml.safe_load((ROOT / "configs/image/vqgan_cpu_f8.yaml").read_text())["model"]
    }
    assert "--model.lr is now --model.optimizer.lr" in legacy_recipe_error(["--model.lr", "1"])
    assert "adversarial.start" in legacy_recipe_error(["--model.disc_start=3"])
    assert legacy_recipe_error(["--model.optimizer.lr", "1"]) is None


def test_flat_checkpoints_load_with_the_same_settings(tmp_path):
    module = TokenizerModule(
        tokenizer="vqgan_test",
        tokenizer_args={"ch": 8, "z_channels": 8},
        criterion={"losses": {"l2": 3.0}},
        adversarial={"start": 7, "args": {"patchgan": {"channels": 8, "num_layers": 2}}},
        optimizer={"lr": 5e-4},
        ema={"decay": 0.9},
    )
    flat = {
        "tokenizer": "vqgan_test", "tokenizer_args": {"ch": 8, "z_channels": 8},
        "recon_loss": "l2", "recon_weight": 3.0, "perceptual_loss": None, "disc_start": 7,
        "disc_channels": 8, "disc_layers": 2, "lr": 5e-4, "ema_decay": 0.9,
        # As LightningCLI saved them: unset arguments as None, and its instantiator.
        "discriminator_args": None, "eval_num_tokens": None, "eval_num_codebooks": None,
        "perceptual_args": None, "spectral_args": None, "disc_lr": None,
        "_instantiator": "lightning.pytorch.cli.instantiate_module",
    }  # fmt: skip
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": flat,
            "pytorch-lightning_version": "2.5.0"}  # fmt: skip
    torch.save(ckpt, tmp_path / "old.ckpt")
    loaded = TokenizerModule.load_from_checkpoint(tmp_path / "old.ckpt")
    assert loaded.specs == module.specs
    assert loaded.criterion.weights == {"l2": 3.0}
    assert isinstance(loaded.specs["adversarial"], AdversarialSpec)


def test_specs_validate_their_fields():
    with pytest.raises(ValueError, match=r"unknown AdversarialSpec field\(s\) \['strat'\]"):
        TokenizerModule(tokenizer="vqgan_test", adversarial={"strat": 3})
    with pytest.raises(ValueError, match="ema_decay must lie in"):
        TokenizerModule(tokenizer="vqgan_test", ema={"decay": 1.0})
    with pytest.raises(ValueError, match="loss 'l1': weight must be >= 0"):
        TokenizerModule(tokenizer="vqgan_test", criterion={"losses": {"l1": -1.0}})
