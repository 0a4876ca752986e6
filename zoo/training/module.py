"""The one Lightning training path for tokenizers of every modality: ``TokenizerModule``.

Everything that differs between modalities (default losses and discriminators, the headline
metric, the rate points validation measures, how examples are logged) comes from the tokenizer's
modality (:mod:`zoo.modalities`); losses and discriminators are built by name from the registries
in :mod:`zoo.losses`. The GAN step (VQGAN, Esser et al. 2021; EnCodec / DAC for audio) uses
Lightning's manual optimisation; the discriminator starts at ``adversarial.start`` counted by this
module's own ``step_count`` (generator steps), because Lightning's ``global_step`` counts
optimizer steps and advances by two per batch once the discriminator runs.

Checkpoints hold everything needed to rebuild the module with no CLI config
(``TokenizerModule.load_from_checkpoint(path)``): the registry name and JSON-able arguments of
the tokenizer and the four specs, the EMA weights, the step counter, optimizer and scheduler
state. Frozen feature networks of perceptual losses are not stored.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from zoo._io import refuse_urls
from zoo.hub import load
from zoo.losses import DISCRIMINATORS, LOSSES, Criterion
from zoo.modalities import get_modality
from zoo.quantizers import collect_metrics
from zoo.registry import create_tokenizer
from zoo.tokenizers import Tokenizer
from zoo.training.ema import ema_decay_at, ema_update_
from zoo.training.gan import Adversary
from zoo.training.optim import adamw_with_schedule
from zoo.training.specs import (
    LEGACY_ARGUMENTS,
    AdversarialSpec,
    CriterionSpec,
    EMASpec,
    OptimizerSpec,
    ValidationSpec,
    as_spec,
    migrate_legacy_arguments,
    spec_dict,
)


class TokenizerModule(LightningModule):
    """Train any registered tokenizer on batches in its modality's layout, values in [-1, 1]
    (a tensor, or a tuple/list whose first item is that tensor).

    Args:
        tokenizer: registry name (``zoo.list_tokenizers()``); tokenizer_args: JSON-able
            constructor overrides.
        criterion, adversarial, optimizer, ema, validation: see :mod:`zoo.training.specs`
            (each a spec object or the same as a mapping; None: its defaults).
        init_weights: start a new run from these weights instead of random ones (fine-tuning,
            or the second stage of a recipe): anything ``zoo.load`` reads (a registered
            pretrained name, a ``save_pretrained`` folder, ``hf-hub:org/repo``) or a ``.ckpt``
            of an earlier ``train.py fit`` run (its EMA weights when it kept them). Loaded
            strictly into the tokenizer and its EMA copy in ``setup`` (before a distributed
            strategy wraps or shards the model); a resumed run (``--ckpt_path``) then restores
            its own state over them.
        init_new: names (or name prefixes, e.g. ``quantizer.levels.8.``) of tokenizer weights
            that ``init_weights`` does not have because this run's architecture adds them (more
            residual VQ levels, a new head): they keep their fresh initialisation and every
            other weight must still load exactly (nothing missing, nothing left over, no shape
            mismatch). Empty: the load is strict.
    """

    def __init__(
        self,
        *,
        tokenizer: str,
        tokenizer_args: dict[str, Any] | None = None,
        criterion: CriterionSpec | None = None,
        adversarial: AdversarialSpec | None = None,
        optimizer: OptimizerSpec | None = None,
        ema: EMASpec | None = None,
        validation: ValidationSpec | None = None,
        init_weights: str | None = None,
        init_new: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.init_weights = init_weights
        self.init_new = tuple(init_new or ())
        if self.init_new and not init_weights:
            raise ValueError(
                "TokenizerModule: init_new names weights that init_weights lacks, but "
                "init_weights is not set; set both or neither"
            )
        self.specs = {
            "criterion": as_spec(CriterionSpec, criterion),
            "adversarial": as_spec(AdversarialSpec, adversarial),
            "optimizer": as_spec(OptimizerSpec, optimizer),
            "ema": as_spec(EMASpec, ema),
            "validation": as_spec(ValidationSpec, validation),
        }
        args = dict(tokenizer_args or {})
        self.save_hyperparameters(
            {"tokenizer": tokenizer, "tokenizer_args": args}
            | {k: spec_dict(v) for k, v in self.specs.items()}
            | ({"init_weights": init_weights} if init_weights else {})
            | ({"init_new": list(self.init_new)} if self.init_new else {})
        )
        self.automatic_optimization = False
        self.tokenizer: Tokenizer = create_tokenizer(tokenizer, **args)
        self.modality = get_modality(self.tokenizer)
        self.ema_tokenizer: Tokenizer | None = None
        if self.specs["ema"].decay:
            self.ema_tokenizer = create_tokenizer(tokenizer, **args)
            self.ema_tokenizer.load_state_dict(self.tokenizer.state_dict())
            self.ema_tokenizer.requires_grad_(False).eval()
        if (fmt := self.modality.memory_format) is not None:
            for tok in (self.tokenizer, self.ema_tokenizer):
                if tok is not None:
                    tok.to(memory_format=fmt)
        crit = self.specs["criterion"]
        losses = self.modality.default_losses if crit.losses is None else crit.losses
        self._check_applies(LOSSES, [n for n in losses if n in LOSSES], "loss")
        self.criterion = Criterion(
            losses,
            report=self.modality.validation_losses,
            shared=self.modality.loss_args(self.tokenizer),
        )
        adv = self.specs["adversarial"]
        self.adversary: Adversary | None = None
        self.discriminator: nn.Module | None = None
        names = adv.names(self.modality.default_discriminators)
        # "auto" for a modality that names no discriminator: reconstruction losses only.
        if adv.weight > 0 and (names or adv.discriminators != "auto"):
            known = [n for n in names if n in DISCRIMINATORS]
            self._check_applies(DISCRIMINATORS, known, "discriminator")
            self.adversary = Adversary(adv, names, channels=self.tokenizer.in_channels)
            self.discriminator = self.adversary.discriminator
        # Generator steps taken; checkpointed with the weights (a buffer), unlike global_step it
        # advances by exactly one per training batch.
        self.register_buffer("step_count", torch.zeros((), dtype=torch.long))
        self.validation_rates = self.modality.validation_rates(
            self.tokenizer, self.specs["validation"].rates
        )
        self.log_examples_count = self.specs["validation"].log_examples

    def _check_applies(self, table: dict[str, Any], names: list[str], what: str) -> None:
        for name in names:
            allowed = table[name].modalities
            if allowed and self.modality.name not in allowed:
                raise ValueError(
                    f"TokenizerModule: {what} {name!r} is an {'/'.join(allowed)} {what} and "
                    f"{self.hparams.tokenizer!r} is an {self.modality.name} tokenizer; list "
                    f"{self.modality.name} {what}s only"
                )

    # ------------------------------------------------------------------ public helpers
    @property
    def export_tokenizer(self) -> Tokenizer:
        """The weights a run publishes: the EMA copy when EMA is on, else the live tokenizer."""
        return self.ema_tokenizer if self.ema_tokenizer is not None else self.tokenizer

    def export(self, path: str | Path, **save_kwargs: Any) -> Path:
        """Write the (EMA) tokenizer with ``save_pretrained`` (atomic) into folder ``path``."""
        tok = self.export_tokenizer
        was_training = tok.training
        # Training may keep weights channels-last; files hold the default (contiguous) layout.
        tok.eval().to(memory_format=torch.contiguous_format)
        try:
            tok.save_pretrained(Path(path), **save_kwargs)
        finally:
            tok.train(was_training)
            if (fmt := self.modality.memory_format) is not None:
                tok.to(memory_format=fmt)
        return Path(path)

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: str | Path, map_location: Any = None, **kwargs: Any
    ) -> TokenizerModule:
        """Lightning's ``load_from_checkpoint`` for a local file, unpickled with
        ``weights_only=True``; URLs are refused (Lightning would fetch them and unpickle with
        ``weights_only=False``). Checkpoints of the flat-argument versions are migrated."""
        path = refuse_urls(checkpoint_path, "checkpoint")
        hparams = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get(
            "hyper_parameters", {}
        )
        if set(hparams) & set(LEGACY_ARGUMENTS):
            default = get_modality(create_tokenizer(hparams["tokenizer"])).default_losses
            kwargs = migrate_legacy_arguments(hparams, default) | kwargs
        kwargs.setdefault("weights_only", True)
        return super().load_from_checkpoint(path, map_location=map_location, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction of ``x`` (input layout, [-1, 1]) by the live tokenizer."""
        return self.tokenizer(x).reconstruction

    # ------------------------------------------------------------------ optimisers
    def _generator_steps_total(self) -> int | None:
        if self.specs["optimizer"].total_steps:
            return int(self.specs["optimizer"].total_steps)
        trainer = self.trainer
        if trainer.max_steps is not None and trainer.max_steps > 0:
            m, start = trainer.max_steps, self.specs["adversarial"].start
            if self.adversary is not None and m > start:
                # Optimizer steps -> generator steps: one per batch, two after the start.
                return start + math.ceil((m - start) / 2)
            return m
        est = trainer.estimated_stepping_batches
        return int(est) if math.isfinite(est) else None

    def configure_optimizers(self):
        spec, total = self.specs["optimizer"], self._generator_steps_total()
        opt_g, sched_g = adamw_with_schedule(self.tokenizer, spec, lr=spec.lr, total_steps=total)
        if self.discriminator is None:
            return [opt_g], [sched_g]
        # The discriminator's schedule counts its own steps, which begin at adversarial.start.
        adv = self.specs["adversarial"]
        disc_total = None if total is None else max(1, total - adv.start)
        opt_d, sched_d = adamw_with_schedule(
            self.discriminator, spec, lr=adv.lr or spec.lr, total_steps=disc_total
        )
        return [opt_g, opt_d], [sched_g, sched_d]

    # ------------------------------------------------------------------ training
    def _as_input(self, batch: Any) -> Tensor:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        if not isinstance(x, Tensor):
            raise TypeError(
                f"TokenizerModule: expected batches of tensors {self.modality.layout} in "
                f"[-1, 1], got {type(x).__name__}"
            )
        fmt = self.modality.memory_format
        return x if fmt is None or x.ndim != 4 else x.contiguous(memory_format=fmt)

    def _logs_this_step(self) -> bool:
        """Whether Lightning writes this step's logs (every ``log_every_n_steps`` batches, as its
        logger connector counts them); the same on every rank, so all-reduced quantizer
        statistics stay in lockstep."""
        trainer = self._trainer
        if trainer is None:  # called outside a Trainer: nothing decides, so log
            return True
        every = trainer.log_every_n_steps
        return bool(every) and (trainer.fit_loop.epoch_loop._batches_that_stepped + 1) % every == 0

    def _step(self, optimizer: Any, loss: Tensor) -> None:
        self.toggle_optimizer(optimizer)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if clip := self.specs["optimizer"].grad_clip:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")
        optimizer.step()
        self.untoggle_optimizer(optimizer)

    def training_step(self, batch: Any, batch_idx: int) -> None:
        x = self._as_input(batch)
        opts, scheds = self.optimizers(), self.lr_schedulers()
        opts = opts if isinstance(opts, list) else [opts]
        scheds = scheds if isinstance(scheds, list) else [scheds]
        adv = self.adversary
        disc_active = adv is not None and int(self.step_count) >= adv.spec.start
        # Codebook usage / perplexity only on the steps that are logged (a histogram per call).
        with collect_metrics(self._logs_this_step()):
            out = self.tokenizer(x)
        x_hat = out.reconstruction
        losses = self.criterion(x_hat, x)
        loss = losses["nll"] + self.specs["criterion"].quantizer_weight * out.quantizer.loss
        logs: dict[str, Tensor | float] = {}
        if disc_active:
            g_loss, g_logs = adv.generator_term(self.tokenizer, x, x_hat, losses["nll"])
            loss, logs = loss + g_loss, logs | g_logs
        self._step(opts[0], loss)
        logs["train/lr"] = float(opts[0].param_groups[0]["lr"])  # the LR this step used
        scheds[0].step()
        if disc_active:
            d_loss, d_logs = adv.discriminator_loss(x, x_hat)
            self._step(opts[1], d_loss)
            logs |= d_logs | {"train/d_loss": d_loss.detach()}
            logs["train/disc_lr"] = float(opts[1].param_groups[0]["lr"])
            scheds[1].step()
        self.step_count += 1
        if self.ema_tokenizer is not None:
            decay = ema_decay_at(self.specs["ema"].decay, int(self.step_count) - 1)
            ema_update_(self.ema_tokenizer, self.tokenizer, decay)
        logs["train/loss"] = loss.detach()
        logs |= {f"train/{k}": v.detach() for k, v in losses.items() if k != "nll"}
        logs["train/quantizer_loss"] = out.quantizer.loss.detach()
        key, value = self.modality.quality(x_hat, x)
        logs[f"train/{key}"] = value
        logs["train/num_tokens"] = float(out.num_tokens or 0)
        # Quantizer metrics (usage, perplexity, ...) as q_*, the tokenizer's own as they are.
        logs |= {f"train/q_{k}": v.float() for k, v in out.quantizer.metrics.items()}
        logs |= {f"train/{k}": v.float() for k, v in out.metrics.items()}
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=x.shape[0])
        self.log("step_count", self.step_count.float(), on_step=True, batch_size=x.shape[0])

    # ------------------------------------------------------------------ validation
    def _eval_tokenizer(self) -> Tokenizer:
        use_ema = self.ema_tokenizer is not None and self.specs["ema"].validate
        tok = self.ema_tokenizer if use_ema else self.tokenizer
        return tok.eval()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x = self._as_input(batch)
        tok = self._eval_tokenizer()
        with collect_metrics():  # validation logs every batch (averaged over the epoch)
            out = tok(x)
        losses = self.criterion(out.reconstruction, x)
        key, value = self.modality.quality(out.reconstruction, x)
        logs = {f"val/{k}": v for k, v in losses.items() if k != "nll"}
        logs |= {f"val/{key}": value, "val/quantizer_loss": out.quantizer.loss.detach().float()}
        logs |= {f"val/q_{k}": v.float() for k, v in out.quantizer.metrics.items()}
        logs |= {f"val/{k}": v.float() for k, v in out.metrics.items()}
        rows = [x, out.reconstruction]
        for rate in self.validation_rates:
            name, value, shown = self.modality.rate_quality(tok, x, rate, self.criterion.terms)
            logs[f"val/{name}"] = value
            if shown is not None:
                rows.append(shown)
        self.log_dict(logs, on_step=False, on_epoch=True, sync_dist=True, batch_size=x.shape[0])
        trainer = self.trainer  # fast_dev_run suppresses logging (and must leave nothing behind)
        if batch_idx == 0 and self.log_examples_count and not trainer.sanity_checking:
            if not trainer.fast_dev_run:
                self.modality.log_examples(self, x, rows)

    def setup(self, stage: str) -> None:
        # Lightning restores a --ckpt_path after this hook, so a resumed run keeps its weights.
        if stage == "fit" and self.init_weights:
            self.load_initial_weights(self.init_weights)

    def load_initial_weights(self, source: str) -> None:
        """Load ``source`` (see ``init_weights``) into the tokenizer and EMA copy: strictly,
        except for the weights named by ``init_new``, which keep their initialisation."""
        if str(source).endswith(".ckpt"):
            tok = TokenizerModule.load_from_checkpoint(source, map_location="cpu")
            state = tok.export_tokenizer.state_dict()
        else:
            state = load(source).state_dict()
        for tok in (self.tokenizer, self.ema_tokenizer):
            if tok is None:
                continue
            full = self._with_new_weights(source, tok, state) if self.init_new else state
            try:
                tok.load_state_dict(full)
            except RuntimeError as err:
                raise ValueError(
                    f"TokenizerModule: init_weights={source!r} do not fit "
                    f"{self.hparams.tokenizer!r} with these tokenizer_args (shapes or names "
                    f"differ); start from weights of the same architecture, or name the "
                    f"weights this architecture adds in init_new. {err}"
                ) from None

    def _with_new_weights(
        self, source: str, tok: nn.Module, state: dict[str, Tensor]
    ) -> dict[str, Tensor]:
        """``state`` completed with ``tok``'s own values of the weights ``init_new`` names,
        after checking that those are exactly the ones ``state`` lacks."""
        own = tok.state_dict()
        new = [k for k in own if k.startswith(self.init_new)]
        have = [k for k in new if k in state]
        unused = [p for p in self.init_new if not any(k.startswith(p) for k in own)]
        if have or unused:
            raise ValueError(
                f"TokenizerModule: init_new must name only weights that {self.hparams.tokenizer!r}"
                f" has and init_weights={source!r} lacks; "
                + (f"the source has {have[:4]}" if have else f"no weight matches {unused}")
            )
        return dict(state) | {k: own[k] for k in new}

    def on_fit_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None:
            self.modality.check_datamodule(self.tokenizer, dm)

    # ------------------------------------------------------------------ checkpoints
    def _unstored_prefixes(self) -> tuple[str, ...]:
        return tuple(
            f"{name}."
            for name, m in self.named_modules()
            if name and getattr(m, "stored_in_checkpoints", True) is False
        )

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Frozen feature networks are rebuilt from their own weight files; storing them would
        # only bloat every checkpoint.
        state, prefixes = checkpoint["state_dict"], self._unstored_prefixes()
        for key in [k for k in state if k.startswith(prefixes)]:
            del state[key]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state, prefixes = checkpoint["state_dict"], self._unstored_prefixes()
        for key in [k for k in state if k.startswith("perceptual.")]:  # flat-argument versions
            del state[key]
        for key, value in self.state_dict().items():
            if key.startswith(prefixes):
                state[key] = value
