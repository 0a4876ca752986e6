"""TokenizerModule: GAN schedule, resume, EMA + export, checkpoints, validation logs."""

import copy
import math

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch import nn
from training_helpers import TINY_VQGAN, data_args

import zoo
from zoo.training import ImageDataModule, TokenizerModule, WarmupCosine
from zoo.training.ema import ema_decay_at, ema_update_


def _trainer(tmp_path, **kwargs):
    args = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        num_sanity_val_steps=0,
        limit_val_batches=1,
        default_root_dir=str(tmp_path),
    )
    args.update(kwargs)
    return pl.Trainer(**args)


def _module(**sections):
    """Tiny VQGAN module: L1 only, a 2-layer 8-channel PatchGAN, 1 warmup step; ``sections``
    update the spec mappings (``adversarial={"start": 2}``) or replace other arguments."""
    args = dict(
        TINY_VQGAN,
        criterion={"losses": {"l1": 1.0}},
        adversarial={"args": {"patchgan": {"num_layers": 2, "channels": 8}}},
        optimizer={"warmup_steps": 1},
    )
    for key, value in sections.items():
        args[key] = {**args[key], **value} if isinstance(args.get(key), dict) else value
    return TokenizerModule(**args)


def _flat(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


class _Record(Callback):
    def __init__(self):
        self.rows = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.rows.append(
            {
                "step_count": int(pl_module.step_count),
                "global_step": trainer.global_step,
                "disc": _flat(pl_module.discriminator).clone(),
                "gen_lr_epoch": trainer.lr_scheduler_configs[0].scheduler.last_epoch,
                "disc_lr_epoch": trainer.lr_scheduler_configs[1].scheduler.last_epoch,
            }
        )


def test_discriminator_starts_at_its_own_step_count(tmp_path, photo_dir):
    pl.seed_everything(0)
    module = _module(adversarial={"start": 2})
    disc0 = _flat(module.discriminator).clone()
    rec = _Record()
    # max_steps counts optimizer steps: 2 generator-only batches + 2 batches with both = 6.
    trainer = _trainer(tmp_path, max_steps=6, callbacks=[rec], limit_val_batches=0)
    trainer.fit(module, datamodule=ImageDataModule(**data_args(photo_dir)))
    assert [r["step_count"] for r in rec.rows] == [1, 2, 3, 4]
    assert [r["global_step"] for r in rec.rows] == [1, 2, 4, 6]
    assert torch.equal(rec.rows[0]["disc"], disc0) and torch.equal(rec.rows[1]["disc"], disc0)
    assert not torch.equal(rec.rows[2]["disc"], disc0)
    assert not torch.equal(rec.rows[3]["disc"], rec.rows[2]["disc"])
    # The generator schedule advances every batch; the discriminator's only once it runs.
    assert [r["gen_lr_epoch"] for r in rec.rows] == [1, 2, 3, 4]
    assert [r["disc_lr_epoch"] for r in rec.rows] == [0, 0, 1, 2]
    # Schedule length derived from max_steps in generator steps: 2 + ceil((6 - 2) / 2) = 4.
    assert module.lr_schedulers()[0].lr_lambdas[0].total_steps == 4


def test_resume_continues_step_count_and_optimizer_state(tmp_path, photo_dir):
    pl.seed_everything(0)
    ckpt_dir = tmp_path / "ckpt"
    # adversarial start 0: every batch takes 2 optimizer steps, so global_step = 2 * step_count.
    ckpt = ModelCheckpoint(dirpath=ckpt_dir, every_n_train_steps=4, save_top_k=-1, save_last=True)
    module = _module(adversarial={"start": 0})
    trainer = _trainer(tmp_path, max_steps=8, callbacks=[ckpt], enable_checkpointing=True)
    trainer.fit(module, datamodule=ImageDataModule(**data_args(photo_dir)))
    assert int(module.step_count) == 4 and trainer.global_step == 8
    mid = ckpt_dir / "epoch=0-step=4.ckpt"
    saved = torch.load(mid, map_location="cpu", weights_only=True)
    assert saved["global_step"] == 4 and int(saved["state_dict"]["step_count"]) == 2

    class Capture(Callback):
        def on_train_start(self, trainer, pl_module):
            self.global_step = trainer.global_step
            self.step_count = int(pl_module.step_count)
            self.opt_states = [copy.deepcopy(o.state_dict()) for o in trainer.optimizers]
            self.sched_epochs = [c.scheduler.last_epoch for c in trainer.lr_scheduler_configs]

    cap = Capture()
    pl.seed_everything(0)
    resumed = _module(adversarial={"start": 0})
    trainer2 = _trainer(tmp_path / "r", max_steps=8, callbacks=[cap])
    trainer2.fit(resumed, datamodule=ImageDataModule(**data_args(photo_dir)), ckpt_path=str(mid))
    assert cap.global_step == 4 and cap.step_count == 2
    assert cap.sched_epochs == [2, 2]
    for got, want in zip(cap.opt_states, saved["optimizer_states"], strict=True):
        assert got["param_groups"] == want["param_groups"]
        assert got["state"].keys() == want["state"].keys()
        for k in want["state"]:
            for name, value in want["state"][k].items():
                torch.testing.assert_close(got["state"][k][name], value)
    # It then runs the remaining 2 batches, not 4: the counts continue from the checkpoint.
    assert int(resumed.step_count) == 4 and trainer2.global_step == 8


def test_checkpoint_reloads_without_config_and_export_loads_with_zoo(tmp_path, photo_dir):
    pl.seed_everything(0)
    module = _module(
        adversarial={"start": 1},
        criterion={"losses": {"l1": 1.0, "efflite0": 0.1}},
        ema={"decay": 0.9},
    )
    init = _flat(module.tokenizer).clone()
    trainer = _trainer(tmp_path, max_steps=5)
    trainer.fit(module, datamodule=ImageDataModule(**data_args(photo_dir)))
    path = tmp_path / "run.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    # Frozen perceptual features are not stored; EMA weights and the step counter are.
    assert not any(k.startswith("criterion.terms.efflite0.") for k in state)
    assert any(k.startswith("criterion.terms.efflite0.") for k in module.state_dict())
    assert any(k.startswith("ema_tokenizer.") for k in state)

    loaded = TokenizerModule.load_from_checkpoint(path, map_location="cpu")
    assert loaded.hparams.tokenizer == "vqgan_test" and int(loaded.step_count) == 3
    torch.testing.assert_close(_flat(loaded.ema_tokenizer), _flat(module.ema_tokenizer))
    torch.testing.assert_close(_flat(loaded.tokenizer), _flat(module.tokenizer))
    # EMA lags the live weights and has moved from the initialisation.
    ema, live = _flat(module.ema_tokenizer), _flat(module.tokenizer)
    assert not torch.allclose(ema, live) and not torch.allclose(ema, init)

    out = loaded.export(tmp_path / "export")
    tok = zoo.load(str(out))
    assert tok.architecture == "vqgan_test"
    torch.testing.assert_close(_flat(tok), _flat(module.ema_tokenizer))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(tok.tokenize(x), module.ema_tokenizer.eval().tokenize(x))


def test_validation_logs_psnr_per_token_count_and_an_image_grid(tmp_path, photo_dir):
    pl.seed_everything(0)
    module = TokenizerModule(
        tokenizer="titok_test",
        criterion={"losses": {"l1": 1.0}},
        adversarial={"weight": 0.0},
        ema={"decay": None},
        validation={"log_examples": 2},
    )
    assert module.validation_rates == [1, 2, 4, 8]
    assert module.discriminator is None and module.ema_tokenizer is None
    trainer = _trainer(tmp_path, max_steps=2, logger=CSVLogger(tmp_path), val_check_interval=2)
    trainer.fit(module, datamodule=ImageDataModule(**data_args(photo_dir)))
    metrics = trainer.callback_metrics
    for key in ("val/psnr", "val/psnr@1", "val/psnr@8", "val/rec", "val/q_usage"):
        assert key in metrics and math.isfinite(float(metrics[key])), key
    assert float(metrics["val/psnr@8"]) == pytest.approx(float(metrics["val/psnr"]), abs=1e-4)
    grids = list((tmp_path / "lightning_logs").rglob("reconstructions_step*.png"))
    assert len(grids) == 1
    from PIL import Image

    w, h = Image.open(grids[0]).size
    # Rows: input, full reconstruction, and 1, 2, 4 tokens; 2 columns of 32 px + padding.
    assert (w, h) == (2 + 2 * 34, 2 + 5 * 34)


def test_last_layer_is_found_in_the_graph_or_taken_from_the_tokenizer():
    module = _module()
    out = module.tokenizer(torch.rand(1, 3, 32, 32) * 2 - 1)
    last = module.adversary.last_layer(module.tokenizer, out.reconstruction)
    assert last is module.tokenizer.decoder.conv_out.weight

    titok = TokenizerModule(
        tokenizer="titok_test", criterion={"losses": {"l1": 1.0}}, ema={"decay": None}
    )
    out = titok.tokenizer(torch.rand(1, 3, 32, 32) * 2 - 1)
    last = titok.adversary.last_layer(titok.tokenizer, out.reconstruction)
    names = {id(p): n for n, p in titok.tokenizer.named_parameters()}
    assert names[id(last)].startswith("decoder.") and last.ndim >= 2

    declared = _module()
    chosen = declared.tokenizer.encoder.conv_in.weight
    declared.tokenizer.last_layer = chosen  # a tokenizer may name its output weight itself
    assert declared.adversary.last_layer(declared.tokenizer, out.reconstruction) is chosen


def test_warmup_cosine_and_ema_helpers():
    f = WarmupCosine(warmup_steps=4, total_steps=14, min_ratio=0.1)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(9) == pytest.approx(0.55)
    assert f(14) == pytest.approx(0.1) and f(100) == pytest.approx(0.1)
    assert WarmupCosine(2, None, 0.1)(50) == 1.0

    assert ema_decay_at(0.999, 0) == pytest.approx(0.1)
    assert ema_decay_at(0.999, 10**6) == 0.999
    ema, live = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        live.weight.fill_(3.0)
        live.running_mean.fill_(2.0)
    live.num_batches_tracked.fill_(7)
    ema_update_(ema, live, decay=0.75)
    torch.testing.assert_close(ema.weight, torch.full((3,), 0.75 * 1 + 0.25 * 3))
    torch.testing.assert_close(ema.running_mean, torch.full((3,), 0.5))
    assert int(ema.num_batches_tracked) == 7
    with pytest.raises(ValueError, match="differ in structure"):
        ema_update_(nn.Linear(2, 2), nn.Linear(2, 2, bias=False), 0.5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"unknown loss\(es\) \['l3'\]"):
        _module(criterion={"losses": {"l3": 1.0}})
    with pytest.raises(ValueError, match="adversarial.loss must be one of"):
        _module(adversarial={"loss": "wgan"})
    with pytest.raises(ValueError, match="unknown tokenizer"):
        _module(tokenizer="vqgan_tset")
    with pytest.raises(ValueError, match=r"validation rates \(token counts\) \[0, 9\]"):
        TokenizerModule(tokenizer="titok_test", validation={"rates": [0, 9]})


def test_training_reduces_validation_loss_of_the_ema_weights(tmp_path, photo_dir):
    pl.seed_everything(0)
    module = _module(
        adversarial={"weight": 0.0}, optimizer={"lr": 2e-3, "warmup_steps": 2}, ema={"decay": 0.8}
    )
    dm = ImageDataModule(**data_args(photo_dir, batch_size=4, crops_per_image=4))
    before = _trainer(tmp_path).validate(module, datamodule=dm, verbose=False)[0]
    _trainer(tmp_path, max_steps=16).fit(module, datamodule=dm)
    after = _trainer(tmp_path).validate(module, datamodule=dm, verbose=False)[0]
    assert after["val/rec"] < 0.8 * before["val/rec"]
    assert after["val/psnr"] > before["val/psnr"] + 1.0


def test_quantizer_statistics_are_collected_only_on_logged_steps(tmp_path, photo_dir, monkeypatch):
    """Codebook usage / perplexity cost a histogram per call: the module asks for them on the
    steps Lightning logs (every log_every_n_steps batches) and in validation, never otherwise."""
    import csv

    import zoo.training.module as module_file

    requests = []
    real = module_file.collect_metrics

    def spy(enabled=True):
        requests.append(("val" if module.trainer.validating else "train", bool(enabled)))
        return real(enabled)

    monkeypatch.setattr(module_file, "collect_metrics", spy)
    pl.seed_everything(0)
    module = TokenizerModule(
        tokenizer="titok_test",
        criterion={"losses": {"l1": 1.0}},
        adversarial={"weight": 0.0},
        ema={"decay": None},
    )
    logger = CSVLogger(tmp_path)
    trainer = _trainer(
        tmp_path, max_steps=4, log_every_n_steps=2, logger=logger, val_check_interval=4
    )
    trainer.fit(module, datamodule=ImageDataModule(**data_args(photo_dir)))
    train = [on for kind, on in requests if kind == "train"]
    assert train == [False, True, False, True]
    assert [on for kind, on in requests if kind == "val"] == [True]
    with open(logger.experiment.metrics_file_path) as f:
        rows = list(csv.DictReader(f))
    logged = [r for r in rows if r.get("train/loss")]
    assert [int(r["step"]) for r in logged] == [1, 3]
    assert all(r["train/q_usage"] and math.isfinite(float(r["train/q_usage"])) for r in logged)
    assert any(r.get("val/q_usage") for r in rows)


class _FirstBatchWeights(Callback):
    def on_train_start(self, trainer, pl_module):
        self.live = _flat(pl_module.tokenizer).clone()
        self.ema = _flat(pl_module.ema_tokenizer).clone()


def test_init_weights_start_a_run_from_a_checkpoint_or_a_saved_folder(tmp_path, photo_dir):
    pl.seed_everything(0)
    first = _module(ema={"decay": 0.9})
    trainer = _trainer(tmp_path, max_steps=3)
    trainer.fit(first, datamodule=ImageDataModule(**data_args(photo_dir)))
    ckpt = tmp_path / "stage1.ckpt"
    trainer.save_checkpoint(ckpt)
    first_trainer = trainer
    folder = first.export(tmp_path / "stage1")
    want = _flat(first.ema_tokenizer)
    for source in (str(ckpt), str(folder)):
        pl.seed_everything(1)
        second = _module(ema={"decay": 0.9}, init_weights=source)
        assert not torch.allclose(_flat(second.tokenizer), want)  # random until fit starts
        seen = _FirstBatchWeights()
        trainer = _trainer(tmp_path, max_steps=1, callbacks=[seen])
        trainer.fit(second, datamodule=ImageDataModule(**data_args(photo_dir)))
        # Both the live weights and the EMA copy start from stage 1's EMA weights.
        torch.testing.assert_close(seen.live, want)
        torch.testing.assert_close(seen.ema, want)
        assert second.hparams.init_weights == source

    # A resumed run continues from its own checkpoint, not from init_weights.
    resumed = _module(ema={"decay": 0.9}, init_weights=str(folder))
    seen = _FirstBatchWeights()
    steps = int(first.step_count)
    trainer = _trainer(tmp_path, max_steps=2 * first_trainer.global_step, callbacks=[seen])
    trainer.fit(resumed, datamodule=ImageDataModule(**data_args(photo_dir)), ckpt_path=ckpt)
    torch.testing.assert_close(seen.live, _flat(first.tokenizer))
    assert not torch.allclose(seen.live, want) and int(resumed.step_count) > steps


def test_init_weights_of_another_architecture_are_refused(tmp_path, photo_dir):
    first = _module()
    folder = first.export(tmp_path / "small")
    other = _module(tokenizer_args={"ch": 16, "z_channels": 8}, init_weights=str(folder))
    with pytest.raises(ValueError, match="init_weights=.* do not fit 'vqgan_test'"):
        _trainer(tmp_path, max_steps=1).fit(
            other, datamodule=ImageDataModule(**data_args(photo_dir))
        )


def test_init_new_grows_a_pretrained_residual_vq_and_loads_everything_else_exactly(tmp_path):
    """A 4-level codec grown to 6 levels: the source's weights load exactly, the two new levels
    keep their fresh (k-means pending) state; anything else init_new could hide is refused."""
    torch.manual_seed(0)
    small = zoo.create_tokenizer("seanet_test")
    folder = tmp_path / "four_levels"
    small.save_pretrained(folder)
    rvq = {"num_quantizers": 6, "quantizer": "vq", "quantizer_dropout": 0.5,
           "quantizer_kwargs": {"codebook_size": 16}}  # fmt: skip
    grown = {"quantizer": "residual", "quantizer_kwargs": rvq}
    new = ["quantizer.levels.4.", "quantizer.levels.5."]

    def module(**kwargs):
        return TokenizerModule(tokenizer="seanet_test", tokenizer_args=grown,
                               init_weights=str(folder), **kwargs)  # fmt: skip

    m = module(init_new=new, ema={"decay": 0.9})
    fresh = {k: v.clone() for k, v in m.tokenizer.state_dict().items()}
    m.load_initial_weights(str(folder))
    source = small.state_dict()
    for tok in (m.tokenizer, m.ema_tokenizer):
        for key, value in tok.state_dict().items():
            want = fresh[key] if key.startswith(tuple(new)) else source[key]
            torch.testing.assert_close(value, want, msg=key)
    assert m.hparams.init_new == new

    with pytest.raises(ValueError, match="do not fit 'seanet_test'.*init_new"):
        module().load_initial_weights(str(folder))  # strict without init_new
    with pytest.raises(ValueError, match="the source has .*levels.3"):
        module(init_new=new + ["quantizer.levels.3."]).load_initial_weights(str(folder))
    with pytest.raises(ValueError, match="no weight matches .*'decoder.typo'"):
        module(init_new=new + ["decoder.typo"]).load_initial_weights(str(folder))
    with pytest.raises(ValueError, match="init_weights is not set"):
        TokenizerModule(tokenizer="seanet_test", init_new=new)
