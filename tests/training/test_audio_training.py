"""Audio codecs train through the same TokenizerModule and train.py as images: waveform + mel
losses, waveform discriminators with feature matching, AudioDataModule, every audio recipe."""

import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml
from test_recipes import load_train_module

from zoo.data.audio import read_audio
from zoo.training import AudioDataModule, TokenizerModule

ROOT = Path(__file__).resolve().parents[2]
AUDIO = ROOT / "tests" / "fixtures" / "audio"
AUDIO_RECIPES = sorted((ROOT / "configs" / "audio").glob("*.yaml"))

#: Shrinks per audio family, merged over a recipe's tokenizer_args.
_TINY_RVQ = {"num_quantizers": 2, "quantizer": "vq", "quantizer_dropout": 0.5,
             "quantizer_kwargs": {"codebook_size": 16}}  # fmt: skip
TINY = {
    "seanet": {"encoder_filters": 4, "decoder_filters": 4, "dimension": 8, "lstm_layers": 0,
               "quantizer_kwargs": _TINY_RVQ},
    "encodec": {"encoder_filters": 4, "decoder_filters": 4, "dimension": 8, "lstm_layers": 1,
                "quantizer_kwargs": _TINY_RVQ},
    "dac": {"strides": [2, 4, 5], "encoder_dim": 4, "decoder_dim": 48,
            "quantizer_kwargs": {"num_quantizers": 2, "quantizer": "vq", "quantizer_dropout": 0.5,
                                 "quantizer_kwargs": {"codebook_size": 16, "codebook_dim": 4,
                                                      "distance": "cosine"}}},
    "wavtokenizer": {"encoder_filters": 4, "lstm_layers": 1, "dimension": 8,
                     "quantizer_kwargs": {"codebook_size": 16}, "decoder_dim": 16,
                     "decoder_intermediate_dim": 32, "decoder_layers": 1},
    "cat": {"width": 16, "dimension": 8, "encoder_depth": 1, "decoder_depth": 1,
            "num_heads": 2, "quantizer": "fsq", "quantizer_kwargs": {"levels": [5, 5]}},
}  # fmt: skip
#: Small discriminators for the smoke runs.
TINY_DISC = {
    "mpd": {"periods": [2, 3], "widths": [4, 8, 8, 8]},
    "msstft": {"n_ffts": [256, 128], "width": 4},
    "msd": {"base_width": 4, "max_width": 16},
    "mrd": {},
}


def test_there_are_16_and_24_khz_recipes_per_audio_family():
    by_family: dict[str, set[int]] = {}
    for p in AUDIO_RECIPES:
        cfg = yaml.safe_load(p.read_text())
        family = cfg["model"]["tokenizer"].split("_")[0].replace("encodec", "seanet")
        sr = cfg["data"]["init_args"]["sample_rate"]
        by_family.setdefault(family, set()).add(sr)
    for family in ("seanet", "wavtokenizer", "cat"):
        assert by_family.get(family, set()) >= {16000, 24000}, (family, by_family)


@pytest.mark.parametrize("recipe", AUDIO_RECIPES, ids=lambda p: p.stem)
def test_audio_recipe_fast_dev_run(recipe, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = yaml.safe_load(recipe.read_text())
    family = cfg["model"]["tokenizer"].split("_")[0]
    model = cfg["model"]
    tokenizer_args = {**model.get("tokenizer_args", {}), **TINY[family]}
    adv = model.get("adversarial", {})
    names = adv.get("discriminators", [])
    names = [names] if isinstance(names, str) else list(names)
    # Tiny mel resolutions for 0.25 s clips; the mel loss keeps the recipe's weight (0: only
    # reported at validation, as every audio run does).
    losses = dict(model.get("criterion", {}).get("losses") or {"l1": 1.0, "mel": 1.0})
    mel = losses.get("mel", 0.0)
    mel_weight = mel.get("weight", 1.0) if isinstance(mel, dict) else mel
    losses["mel"] = {"weight": mel_weight, "n_ffts": [128, 256], "n_mels": [16, 32]}
    args = [
        "fit",
        "--config", str(recipe),
        "--config", str(ROOT / "configs" / "trainer" / "cpu_smoke.yaml"),
        "--model.tokenizer_args", json.dumps(tokenizer_args),
        "--model.adversarial.args", json.dumps({n: TINY_DISC[n] for n in names}),
        "--model.adversarial.start", "0",  # exercise the adversarial step too
        "--model.criterion.losses", json.dumps(losses),
        "--data.train_dir", str(AUDIO),
        "--data.val_dir", str(AUDIO),
        "--data.clip_seconds", "0.25",
        "--data.val_clip_seconds", "0.25",
    ]  # fmt: skip
    if model.get("init_weights"):  # a later stage: the tiny model starts at random
        args += ["--model.init_weights", "null", "--model.init_new", "null"]
    cli = load_train_module().cli_main(args)
    m = cli.model
    assert m.modality.name == "audio" and m.tokenizer.architecture == model["tokenizer"]
    # fast_dev_run=2 caps optimizer steps at 2: one adversarial batch (generator +
    # discriminator step) or two reconstruction-only batches.
    adversarial = adv.get("weight", 0.1) > 0
    assert int(m.step_count) == (1 if adversarial else 2)
    assert cli.trainer.global_step == 2
    assert isinstance(cli.datamodule, AudioDataModule)
    assert not (tmp_path / "runs").exists()


TINY_MEL = {"n_ffts": [128, 256], "n_mels": [16, 32]}


def _tiny_module(**sections):
    """Tiny seanet module; ``sections`` update the spec mappings or replace other arguments."""
    args = dict(
        tokenizer="seanet_test",
        criterion={"losses": {"l1": 0.1, "mel": {"weight": 1.0, **TINY_MEL}}},
        adversarial={
            "weight": 1.0,
            "discriminators": ["mpd", "msstft"],
            "args": {"mpd": TINY_DISC["mpd"], "msstft": TINY_DISC["msstft"]},
            "feature_matching_weight": 2.0,
            "adaptive_weight": False,
        },
        optimizer={"warmup_steps": 1},
        ema={"decay": None},
        validation={"log_examples": 2},
    )
    for key, value in sections.items():
        args[key] = {**args[key], **value} if isinstance(args.get(key), dict) else value
    return TokenizerModule(**args)


def _data(**overrides):
    args = dict(
        train_dir=str(AUDIO), val_dir=str(AUDIO), sample_rate=8000, clip_seconds=0.2,
        batch_size=2, val_batch_size=4,
    )  # fmt: skip
    args.update(overrides)
    return AudioDataModule(**args)


def test_audio_defaults_pick_audio_losses():
    m = _tiny_module(criterion={"losses": None}, adversarial={"discriminators": "auto", "args": {}})
    assert set(m.criterion.terms) == {"l1", "mel"} and m.criterion.weights["mel"] == 1.0
    assert set(m.discriminator.discriminators) == {"mpd", "msstft"}
    assert m.validation_rates == [1, 3, 4]  # seanet_test: 4 codebooks
    # Without mel in the criterion, validation still reports it (at weight 0).
    m = _tiny_module(criterion={"losses": {"l1": 1.0}})
    assert m.criterion.weights == {"mel": 0.0, "l1": 1.0}


def test_image_losses_on_an_audio_tokenizer_are_rejected():
    with pytest.raises(ValueError, match="'efflite0' is an image loss"):
        _tiny_module(criterion={"losses": {"l1": 1.0, "efflite0": 1.0}})
    with pytest.raises(ValueError, match="features"):
        TokenizerModule(
            tokenizer="vqgan_test",
            criterion={"losses": {"l1": 1.0}},
            adversarial={"feature_matching_weight": 1.0},
        )
    with pytest.raises(ValueError, match="'mel' is an audio loss"):
        TokenizerModule(tokenizer="vqgan_test", criterion={"losses": {"l1": 1.0, "mel": 1.0}})
    with pytest.raises(ValueError, match="'mpd' is an audio discriminator"):
        TokenizerModule(tokenizer="vqgan_test", adversarial={"discriminators": ["mpd"]})
    with pytest.raises(ValueError, match="unknown discriminator"):
        _tiny_module(adversarial={"discriminators": ["mpd", "wavenet"]})
    with pytest.raises(ValueError, match=r"validation rates \(codebook counts\) \[7\]"):
        _tiny_module(validation={"rates": [7]})


def test_adversarial_audio_training_updates_generator_and_discriminators(tmp_path):
    m = _tiny_module()
    gen0 = [p.detach().clone() for p in m.tokenizer.parameters()]
    disc0 = [p.detach().clone() for p in m.discriminator.parameters()]
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=4, logger=pl.loggers.CSVLogger(tmp_path), limit_val_batches=1,
        val_check_interval=2, enable_progress_bar=False, enable_checkpointing=False,
        enable_model_summary=False, num_sanity_val_steps=0, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(m, datamodule=_data())
    assert int(m.step_count) == 2 and trainer.global_step == 4
    changed = lambda a, b: any(not torch.equal(x, y) for x, y in zip(a, b, strict=True))  # noqa
    assert changed(gen0, list(m.tokenizer.parameters()))
    assert changed(disc0, list(m.discriminator.parameters()))
    logged = trainer.logged_metrics
    for key in ("train/mel", "train/feature_matching", "train/g_loss", "train/si_sdr",
                "val/mel", "val/si_sdr", "val/mel@1", "val/mel@4"):  # fmt: skip
        assert key in logged and torch.isfinite(logged[key]), key
    # Validation writes WAVs of originals and reconstructions at the model's rate.
    wavs = sorted((Path(trainer.log_dir) / "audio").rglob("*.wav"))
    assert len(wavs) == 4
    assert read_audio(wavs[0], sample_rate=8000, channels=1).shape == (1, 1600)


def test_more_codebooks_reconstruct_better_after_training(tmp_path):
    """A short real-speech run: the validation mel distance falls with bitrate."""
    torch.manual_seed(0)
    m = _tiny_module(
        adversarial={"weight": 0.0, "feature_matching_weight": 0.0}, optimizer={"lr": 3e-3}
    )
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=30, logger=False, limit_val_batches=0,
        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
        num_sanity_val_steps=0, default_root_dir=tmp_path,
    )  # fmt: skip
    dm = _data(clip_seconds=0.25, batch_size=4)
    trainer.fit(m, datamodule=dm)
    res = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, limit_val_batches=2,
        default_root_dir=tmp_path,
    ).validate(m, datamodule=dm, verbose=False)[0]  # fmt: skip
    assert res["val/mel@4"] < res["val/mel@1"]


def test_data_rate_must_match_the_tokenizer(tmp_path):
    m = _tiny_module(adversarial={"weight": 0.0, "feature_matching_weight": 0.0})
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, default_root_dir=tmp_path)  # fmt: skip
    with pytest.raises(ValueError, match="sample_rate=16000 differs"):
        trainer.fit(m, datamodule=_data(sample_rate=16000))


def test_audio_data_module_sources_and_split():
    with pytest.raises(ValueError, match="exactly one training source"):
        AudioDataModule(train_dir=str(AUDIO), audio_dir=str(AUDIO))
    dm = AudioDataModule(
        audio_dir=str(AUDIO), group_by=r"_desc_(\w+)\.flac$|(music)\w+", val_fraction=0.3,
        sample_rate=16000, clip_seconds=0.5, batch_size=2,
    )  # fmt: skip
    dm.setup("fit")
    train = {Path(f).name for f in dm.train_dataset.source.files}
    val = {Path(f).name for f in dm.val_dataset.source.files}
    assert train and val and train.isdisjoint(val)
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (2, 1, 8000) and batch.dtype == torch.float32
