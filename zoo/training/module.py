"""The one Lightning training path for tokenizers: ``TokenizerModule``.

Losses (VQGAN recipe, Esser et al., "Taming Transformers for High-Resolution Image Synthesis",
CVPR 2021): pixel L1/L2 + perceptual distance + the quantizer's own loss + a PatchGAN hinge
(or non-saturating) adversarial loss, whose weight is the adaptive ratio of gradient norms at the
decoder's last layer. The GAN step uses Lightning's manual optimisation (documented pattern:
``toggle_optimizer``, ``manual_backward``, ``clip_gradients``); the discriminator starts at
``disc_start`` counted by this module's own ``step_count`` (generator steps), because Lightning's
``global_step`` counts optimizer steps and so advances by two per batch once the discriminator runs.

Checkpoints hold everything needed to rebuild the module with no CLI config
(``TokenizerModule.load_from_checkpoint(path)``): the registry name and JSON-able arguments of
the tokenizer, the EMA weights, the step counter, optimizer and scheduler state. Frozen feature
networks of perceptual losses are not stored (they are rebuilt from their own weight files).
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import Tensor, nn

from zoo.losses import (
    GAN_LOSSES,
    RECONSTRUCTION_LOSSES,
    PatchGANDiscriminator,
    adaptive_weight,
    create_perceptual_loss,
    discriminator_loss,
    generator_loss,
    psnr,
    reconstruction_loss,
)
from zoo.registry import create_tokenizer
from zoo.tokenizers import Tokenizer
from zoo.training.ema import ema_decay_at, ema_update_

_FROZEN_PREFIXES = ("perceptual.",)


class WarmupCosine:
    """LR multiplier: linear warmup over ``warmup_steps``, cosine decay to ``min_ratio`` at
    ``total_steps``, constant after. A callable object (not a lambda) so ``LambdaLR`` checkpoints
    its settings."""

    def __init__(self, warmup_steps: int, total_steps: int | None, min_ratio: float) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_ratio = min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if not self.total_steps or self.total_steps <= self.warmup_steps:
            return 1.0
        t = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))


class TokenizerModule(LightningModule):
    """Train any registered tokenizer on batches of inputs in [-1, 1].

    Batches: images ``(B, 3, H, W)`` float in [-1, 1] (a tensor, or a tuple/list whose first item
    is that tensor).

    Args:
        tokenizer: registry name (``zoo.list_tokenizers()``), e.g. ``"titok_cpu_flex"``.
        tokenizer_args: JSON-able constructor overrides for ``create_tokenizer``.
        lr: peak generator learning rate (AdamW).
        betas: AdamW betas for both optimizers (VQGAN: (0.5, 0.9)).
        weight_decay: AdamW weight decay, applied to >= 2-d weights only.
        warmup_steps: linear LR warmup, in generator steps.
        total_steps: generator steps of the cosine schedule; None derives it from the trainer
            (``max_steps`` converted from optimizer steps to generator steps, else the number of
            batches over ``max_epochs``); constant LR after warmup when neither is finite.
        min_lr_ratio: final LR / peak LR of the cosine.
        grad_clip: max gradient norm for both optimizers (None or 0 disables). Trainer-level
            ``gradient_clip_val`` is not available with manual optimisation.
        recon_loss: ``"l1"`` or ``"l2"``; recon_weight: its weight.
        perceptual_loss: ``"efflite0"`` (offline, not LPIPS), ``"lpips"`` (needs weight files in
            ``perceptual_args``) or None; perceptual_weight: its weight (0 disables).
        perceptual_args: JSON-able arguments of the perceptual loss class.
        quantizer_weight: weight of the quantizer's own loss (``out.quantizer.loss``).
        disc_weight: weight of the adversarial loss (0 disables the discriminator entirely).
        disc_start: generator step at which the discriminator and the adversarial loss start.
        disc_loss: ``"hinge"`` or ``"nonsaturating"``.
        disc_lr: discriminator LR (default: ``lr``).
        disc_channels, disc_layers, disc_norm: PatchGAN size (see ``PatchGANDiscriminator``).
        adaptive_disc_weight: scale the adversarial loss by VQGAN's gradient-norm ratio at the
            decoder's last layer (``tokenizer.last_layer`` when the tokenizer defines it, else the
            weight nearest the output in the autograd graph).
        adaptive_weight_max: clamp of that ratio.
        ema_decay: EMA decay of the tokenizer weights (None or 0: no EMA; export the live model).
        validate_ema: validate (and log images of) the EMA weights, which are what gets exported.
        eval_num_tokens: flexible-length tokenizers: token counts at which validation also
            measures PSNR (default: K/8, K/4, K/2, K).
        log_images: items in the reconstruction grid logged at each validation (0 disables).
    """

    def __init__(
        self,
        *,
        tokenizer: str,
        tokenizer_args: dict[str, Any] | None = None,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.5, 0.9),
        weight_decay: float = 1e-4,
        warmup_steps: int = 1000,
        total_steps: int | None = None,
        min_lr_ratio: float = 0.1,
        grad_clip: float | None = 1.0,
        recon_loss: str = "l1",
        recon_weight: float = 1.0,
        perceptual_loss: str | None = "efflite0",
        perceptual_weight: float = 1.0,
        perceptual_args: dict[str, Any] | None = None,
        quantizer_weight: float = 1.0,
        disc_weight: float = 0.1,
        disc_start: int = 0,
        disc_loss: str = "hinge",
        disc_lr: float | None = None,
        disc_channels: int = 64,
        disc_layers: int = 3,
        disc_norm: str = "group",
        adaptive_disc_weight: bool = True,
        adaptive_weight_max: float = 1e4,
        ema_decay: float | None = 0.999,
        validate_ema: bool = True,
        eval_num_tokens: list[int] | None = None,
        log_images: int = 8,
    ) -> None:
        super().__init__()
        if recon_loss not in RECONSTRUCTION_LOSSES:
            raise ValueError(
                f"TokenizerModule: recon_loss must be one of {RECONSTRUCTION_LOSSES}, got "
                f"{recon_loss!r}"
            )
        if disc_loss not in GAN_LOSSES:
            raise ValueError(
                f"TokenizerModule: disc_loss must be one of {GAN_LOSSES}, got {disc_loss!r}"
            )
        if ema_decay is not None and not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"TokenizerModule: ema_decay must lie in [0, 1), got {ema_decay}")
        if warmup_steps < 0 or disc_start < 0:
            raise ValueError(
                f"TokenizerModule: warmup_steps and disc_start must be >= 0, got {warmup_steps} "
                f"and {disc_start}"
            )
        self.save_hyperparameters()
        self.automatic_optimization = False
        args = dict(tokenizer_args or {})
        self.tokenizer: Tokenizer = create_tokenizer(tokenizer, **args)
        self.ema_tokenizer: Tokenizer | None = None
        if ema_decay:
            self.ema_tokenizer = create_tokenizer(tokenizer, **args)
            self.ema_tokenizer.load_state_dict(self.tokenizer.state_dict())
            self.ema_tokenizer.requires_grad_(False)
            self.ema_tokenizer.eval()
        self.perceptual: nn.Module | None = None
        if perceptual_loss and perceptual_weight > 0:
            self.perceptual = create_perceptual_loss(perceptual_loss, **(perceptual_args or {}))
        self.discriminator: PatchGANDiscriminator | None = None
        if disc_weight > 0:
            self.discriminator = PatchGANDiscriminator(
                in_channels=self.tokenizer.in_channels,
                channels=disc_channels,
                num_layers=disc_layers,
                norm=disc_norm,
            )
        # Generator steps taken; checkpointed with the weights (a buffer), unlike global_step it
        # advances by exactly one per training batch.
        self.register_buffer("step_count", torch.zeros((), dtype=torch.long))
        # Name (in the tokenizer) of the weight used for the adaptive weight; a name rather than
        # the Parameter itself, which assigning to a Module attribute would register twice.
        self._last_layer_name: str | None = None
        if self.tokenizer.flexible_length:
            k = self.tokenizer.num_tokens
            default = [max(1, k // 8), max(1, k // 4), max(1, k // 2), k]
            counts = eval_num_tokens if eval_num_tokens is not None else default
            bad = [c for c in counts if not 1 <= int(c) <= k]
            if bad:
                raise ValueError(
                    f"TokenizerModule: eval_num_tokens {bad} outside [1, {k}] for {tokenizer!r}"
                )
            self.eval_num_tokens = sorted({int(c) for c in counts})
        else:
            self.eval_num_tokens = []

    # ------------------------------------------------------------------ public helpers
    @property
    def export_tokenizer(self) -> Tokenizer:
        """The weights a run publishes: the EMA copy when EMA is on, else the live tokenizer."""
        return self.ema_tokenizer if self.ema_tokenizer is not None else self.tokenizer

    def export(self, path: str | Path, **save_kwargs: Any) -> Path:
        """Write the (EMA) tokenizer with ``save_pretrained`` (model.safetensors + config.json +
        README.md) into folder ``path``; ``zoo.load(path)`` reads it back."""
        path = Path(path)
        tok = self.export_tokenizer
        was_training = tok.training
        tok.eval()
        tok.save_pretrained(path, **save_kwargs)
        tok.train(was_training)
        return path

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction of ``x`` (input layout, [-1, 1]) by the live tokenizer."""
        return self.tokenizer(x).reconstruction

    # ------------------------------------------------------------------ optimisers
    def _generator_steps_total(self) -> int | None:
        if self.hparams.total_steps:
            return int(self.hparams.total_steps)
        trainer = self.trainer
        if trainer.max_steps is not None and trainer.max_steps > 0:
            m = trainer.max_steps
            start = self.hparams.disc_start
            if self.discriminator is not None and m > start:
                # Optimizer steps -> generator steps: one per batch, two after disc_start.
                return start + math.ceil((m - start) / 2)
            return m
        est = trainer.estimated_stepping_batches
        return int(est) if math.isfinite(est) else None

    def configure_optimizers(self):
        hp = self.hparams

        def groups(module: nn.Module, wd: float) -> list[dict[str, Any]]:
            params = [p for p in module.parameters() if p.requires_grad]
            # No decay on biases, norms, scalar gains: decaying them only hurts.
            decay = [p for p in params if p.ndim >= 2]
            no_decay = [p for p in params if p.ndim < 2]
            return [
                {"params": decay, "weight_decay": wd},
                {"params": no_decay, "weight_decay": 0.0},
            ]

        total = self._generator_steps_total()
        opt_g = torch.optim.AdamW(groups(self.tokenizer, hp.weight_decay), lr=hp.lr, betas=hp.betas)
        optimizers = [opt_g]
        schedulers = [
            torch.optim.lr_scheduler.LambdaLR(
                opt_g, WarmupCosine(hp.warmup_steps, total, hp.min_lr_ratio)
            )
        ]
        if self.discriminator is not None:
            opt_d = torch.optim.AdamW(
                groups(self.discriminator, hp.weight_decay),
                lr=hp.disc_lr or hp.lr,
                betas=hp.betas,
            )
            optimizers.append(opt_d)
            # The discriminator's schedule counts its own steps, which begin at disc_start.
            disc_total = None if total is None else max(1, total - hp.disc_start)
            schedulers.append(
                torch.optim.lr_scheduler.LambdaLR(
                    opt_d, WarmupCosine(hp.warmup_steps, disc_total, hp.min_lr_ratio)
                )
            )
        return optimizers, schedulers

    # ------------------------------------------------------------------ losses
    def _as_input(self, batch: Any) -> Tensor:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        if not isinstance(x, Tensor):
            raise TypeError(
                f"TokenizerModule: expected batches of tensors (B, 3, H, W) in [-1, 1], got "
                f"{type(x).__name__}"
            )
        return x

    def _resolve_last_layer(self, reconstruction: Tensor) -> nn.Parameter:
        """The decoder's output weight, for the adaptive adversarial weight.

        ``tokenizer.last_layer`` when the tokenizer defines it (a Parameter, a module with a
        ``weight``, or a method returning a Parameter); otherwise found once, on the first
        adversarial step, as the tokenizer weight (>= 2-d) nearest to the reconstruction in the
        autograd graph.
        """
        named = dict(self.tokenizer.named_parameters(remove_duplicate=False))
        declared = getattr(self.tokenizer, "last_layer", None)
        if isinstance(declared, nn.Module):
            declared = getattr(declared, "weight", None)
        elif callable(declared):
            declared = declared()
        if isinstance(declared, nn.Parameter):
            return declared
        if self._last_layer_name is not None:
            return named[self._last_layer_name]
        names = {id(p): n for n, p in named.items() if p.ndim >= 2}
        seen: set[Any] = set()
        queue = deque([reconstruction.grad_fn])
        while queue:
            fn = queue.popleft()
            if fn is None or fn in seen:
                continue
            seen.add(fn)
            var = getattr(fn, "variable", None)  # AccumulateGrad nodes hold the leaf parameter
            if var is not None and id(var) in names:
                self._last_layer_name = names[id(var)]
                return named[self._last_layer_name]
            queue.extend(f for f, _ in fn.next_functions)
        raise RuntimeError(
            "TokenizerModule: could not find the decoder's last layer of "
            f"{self.hparams.tokenizer!r} in the autograd graph; give the tokenizer a `last_layer` "
            "Parameter or set adaptive_disc_weight=False"
        )

    def _disc_active(self) -> bool:
        return self.discriminator is not None and int(self.step_count) >= self.hparams.disc_start

    def _reconstruction_losses(self, x_hat: Tensor, x: Tensor) -> dict[str, Tensor]:
        hp = self.hparams
        out = {"rec": reconstruction_loss(x_hat, x, kind=hp.recon_loss)}
        if self.perceptual is not None:
            out["perceptual"] = self.perceptual(x_hat, x)
        nll = hp.recon_weight * out["rec"]
        if self.perceptual is not None:
            nll = nll + hp.perceptual_weight * out["perceptual"]
        out["nll"] = nll
        return out

    # ------------------------------------------------------------------ training
    def training_step(self, batch: Any, batch_idx: int) -> None:
        hp = self.hparams
        x = self._as_input(batch)
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        schedulers = self.lr_schedulers()
        schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
        opt_g = optimizers[0]
        disc_active = self._disc_active()
        logs: dict[str, Tensor | float] = {}

        # ---- generator (tokenizer) step
        self.toggle_optimizer(opt_g)
        out = self.tokenizer(x)
        x_hat = out.reconstruction
        losses = self._reconstruction_losses(x_hat, x)
        loss = losses["nll"] + hp.quantizer_weight * out.quantizer.loss
        if disc_active:
            g_loss = generator_loss(self.discriminator(x_hat), kind=hp.disc_loss)
            if hp.adaptive_disc_weight:
                last = self._resolve_last_layer(x_hat)
                w = adaptive_weight(losses["nll"], g_loss, last, max_weight=hp.adaptive_weight_max)
            else:
                w = torch.ones((), device=x.device)
            loss = loss + hp.disc_weight * w * g_loss
            logs["train/g_loss"] = g_loss.detach()
            logs["train/adaptive_weight"] = w
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if hp.grad_clip:
            self.clip_gradients(
                opt_g, gradient_clip_val=hp.grad_clip, gradient_clip_algorithm="norm"
            )
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        # ---- discriminator step on the same batch
        if disc_active:
            opt_d = optimizers[1]
            self.toggle_optimizer(opt_d)
            logits_real = self.discriminator(x.detach())
            logits_fake = self.discriminator(x_hat.detach())
            d_loss = discriminator_loss(logits_real, logits_fake, kind=hp.disc_loss)
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            if hp.grad_clip:
                self.clip_gradients(
                    opt_d, gradient_clip_val=hp.grad_clip, gradient_clip_algorithm="norm"
                )
            opt_d.step()
            self.untoggle_optimizer(opt_d)
            logs["train/d_loss"] = d_loss.detach()
            logs["train/logits_real"] = logits_real.detach().mean()
            logs["train/logits_fake"] = logits_fake.detach().mean()

        logs["train/lr"] = float(opt_g.param_groups[0]["lr"])  # the LR this step used
        schedulers[0].step()
        if disc_active:
            logs["train/disc_lr"] = float(optimizers[1].param_groups[0]["lr"])
            schedulers[1].step()
        self.step_count += 1
        if self.ema_tokenizer is not None:
            decay = ema_decay_at(hp.ema_decay, int(self.step_count) - 1)
            ema_update_(self.ema_tokenizer, self.tokenizer, decay)

        logs["train/loss"] = loss.detach()
        logs["train/rec"] = losses["rec"].detach()
        if "perceptual" in losses:
            logs["train/perceptual"] = losses["perceptual"].detach()
        logs["train/quantizer_loss"] = out.quantizer.loss.detach()
        logs["train/psnr"] = psnr(x_hat, x).mean()
        logs["train/num_tokens"] = float(out.num_tokens or 0)
        # Quantizer metrics (usage, perplexity, ...) as q_*, the tokenizer's own as they are.
        logs.update({f"train/q_{k}": v.float() for k, v in out.quantizer.metrics.items()})
        logs.update({f"train/{k}": v.float() for k, v in out.metrics.items()})
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=x.shape[0])
        self.log("step_count", self.step_count.float(), on_step=True, batch_size=x.shape[0])

    # ------------------------------------------------------------------ validation
    def _eval_tokenizer(self) -> Tokenizer:
        use_ema = self.ema_tokenizer is not None and self.hparams.validate_ema
        tok = self.ema_tokenizer if use_ema else self.tokenizer
        tok.eval()
        return tok

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x = self._as_input(batch)
        tok = self._eval_tokenizer()
        out = tok(x)
        losses = self._reconstruction_losses(out.reconstruction, x)
        logs = {
            "val/rec": losses["rec"],
            "val/psnr": psnr(out.reconstruction, x).mean(),
            "val/quantizer_loss": out.quantizer.loss.detach().float(),
        }
        if "perceptual" in losses:
            logs["val/perceptual"] = losses["perceptual"]
        logs.update({f"val/q_{k}": v.float() for k, v in out.quantizer.metrics.items()})
        logs.update({f"val/{k}": v.float() for k, v in out.metrics.items()})
        rows = [x, out.reconstruction]
        for k in self.eval_num_tokens:
            x_k = tok.detokenize(tok.tokenize(x, num_tokens=k))
            logs[f"val/psnr@{k}"] = psnr(x_k, x).mean()
            if k != tok.num_tokens:
                rows.append(x_k)
        self.log_dict(logs, on_step=False, on_epoch=True, sync_dist=True, batch_size=x.shape[0])
        if batch_idx == 0 and self.hparams.log_images and not self.trainer.sanity_checking:
            self._log_image_grid(rows)

    def _log_image_grid(self, rows: list[Tensor]) -> None:
        # trainer.log_dir is a collective call (it broadcasts from rank 0): every rank must ask.
        root = self.trainer.log_dir or self.trainer.default_root_dir
        if not self.trainer.is_global_zero:
            return
        from torchvision.utils import make_grid

        n = min(self.hparams.log_images, rows[0].shape[0])
        # One row per version: input, full reconstruction, then each evaluated token count.
        images = torch.cat([r[:n].detach().float().clamp(-1, 1) for r in rows])
        grid = make_grid((images + 1) / 2, nrow=n, padding=2, pad_value=1.0).cpu()
        step = int(self.step_count)
        tag = "val/reconstructions"
        logged = False
        for logger in self.loggers:
            experiment = getattr(logger, "experiment", None)
            if hasattr(logger, "log_image"):  # e.g. WandbLogger
                logger.log_image(key=tag, images=[grid], step=step)
                logged = True
            elif hasattr(experiment, "add_image"):  # TensorBoard
                experiment.add_image(tag, grid, step)
                logged = True
        if not logged:
            from torchvision.utils import save_image

            path = Path(root) / "images" / f"reconstructions_step{step:08d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            save_image(grid, path)

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Frozen feature networks are rebuilt from their own weight files; storing them would
        # only bloat every checkpoint.
        state = checkpoint["state_dict"]
        for key in [k for k in state if k.startswith(_FROZEN_PREFIXES)]:
            del state[key]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["state_dict"]
        for key, value in self.state_dict().items():
            if key.startswith(_FROZEN_PREFIXES):
                state[key] = value
