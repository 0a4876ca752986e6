"""The one Lightning training path for tokenizers of every modality: ``TokenizerModule``.

Image losses (VQGAN recipe, Esser et al., "Taming Transformers for High-Resolution Image Synthesis",
CVPR 2021): pixel L1/L2 + perceptual distance + the quantizer's own loss + a PatchGAN hinge
(or non-saturating) adversarial loss, whose weight is the adaptive ratio of gradient norms at the
decoder's last layer. The GAN step uses Lightning's manual optimisation (documented pattern:
``toggle_optimizer``, ``manual_backward``, ``clip_gradients``); the discriminator starts at
``disc_start`` counted by this module's own ``step_count`` (generator steps), because Lightning's
``global_step`` counts optimizer steps and so advances by two per batch once the discriminator runs.

Audio codecs train through the same step with waveform losses instead of pixel ones (EnCodec,
Défossez et al. 2023, sec. 3.4; DAC, Kumar et al. 2023, sec. 3.4): waveform L1 + multi-resolution
mel L1 (+ optional multi-resolution STFT loss) + the quantizer's loss, and a set of waveform
discriminators (multi-period, multi-scale, multi-scale STFT, multi-resolution) whose hinge losses
are averaged over sub-discriminators, plus a discriminator feature-matching loss.
``"auto"`` defaults pick the modality's recipe: PatchGAN + EffLite0 perceptual loss for images,
MPD + MS-STFT discriminators and mel loss for audio.

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

from zoo._io import refuse_urls
from zoo.losses import (
    GAN_LOSSES,
    RECONSTRUCTION_LOSSES,
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    MultiResolutionMelLoss,
    MultiResolutionSTFTLoss,
    MultiScaleDiscriminator,
    MultiScaleSTFTDiscriminator,
    PatchGANDiscriminator,
    adaptive_weight,
    create_perceptual_loss,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    psnr,
    reconstruction_loss,
)
from zoo.quantizers import collect_metrics
from zoo.registry import create_tokenizer
from zoo.tokenizers import Tokenizer
from zoo.training.ema import ema_decay_at, ema_update_

_FROZEN_PREFIXES = ("perceptual.",)

#: Discriminators by name: images ``patchgan``; audio ``mpd`` (HiFi-GAN multi-period), ``msd``
#: (MelGAN multi-scale), ``msstft`` (EnCodec multi-scale STFT), ``mrd`` (Vocos/UnivNet
#: multi-resolution).
DISCRIMINATORS: dict[str, Any] = {
    "patchgan": PatchGANDiscriminator,
    "mpd": MultiPeriodDiscriminator,
    "msd": MultiScaleDiscriminator,
    "msstft": MultiScaleSTFTDiscriminator,
    "mrd": MultiResolutionDiscriminator,
}

_AUTO_DISCRIMINATORS = {"image": ["patchgan"], "audio": ["mpd", "msstft"]}
_AUTO_PERCEPTUAL = {"image": "efflite0", "audio": None}


class DiscriminatorSet(nn.Module):
    """Several discriminators judged together: their sub-discriminator logits and feature lists
    concatenated, ``(list[Tensor], list[list[Tensor]])``."""

    def __init__(self, discriminators: dict[str, nn.Module]) -> None:
        super().__init__()
        self.discriminators = nn.ModuleDict(discriminators)

    def forward(self, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]]]:
        logits: list[Tensor] = []
        features: list[list[Tensor]] = []
        for d in self.discriminators.values():
            lg, ft = _judge(d, x)
            logits.extend(lg)
            features.extend(ft or [])
        return logits, features


def _judge(disc: nn.Module, x: Tensor) -> tuple[list[Tensor], list[list[Tensor]] | None]:
    """Normalise discriminator outputs: a logits tensor (PatchGAN) or ``(logits, features)``."""
    out = disc(x)
    if isinstance(out, Tensor):
        return [out], None
    logits, features = out
    return list(logits), list(features)


def build_discriminator(
    names: list[str],
    *,
    channels: int,
    args: dict[str, dict[str, Any]] | None = None,
) -> nn.Module:
    """One discriminator (a single name) or a :class:`DiscriminatorSet` over ``names``.

    ``args`` maps a name to its constructor arguments (``channels`` is filled in)."""
    args = dict(args or {})
    unknown = [n for n in [*names, *args] if n not in DISCRIMINATORS]
    if unknown:
        raise ValueError(
            f"TokenizerModule: unknown discriminator(s) {unknown}; choose from "
            f"{sorted(DISCRIMINATORS)}"
        )
    modules = {}
    for name in names:
        kw = dict(args.get(name, {}))
        kw.setdefault("in_channels" if name == "patchgan" else "channels", channels)
        modules[name] = DISCRIMINATORS[name](**kw)
    return modules[names[0]] if len(names) == 1 else DiscriminatorSet(modules)


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

    Batches: images ``(B, 3, H, W)`` or audio ``(B, channels, samples)`` at the tokenizer's
    ``sample_rate``, float in [-1, 1] (a tensor, or a tuple/list whose first item is that tensor).

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
            ``perceptual_args``), None, or ``"auto"`` (efflite0 for images, none for audio);
            perceptual_weight: its weight (0 disables).
        mel_weight: multi-resolution log-mel L1 (audio; ``spectral_args["mel"]`` configures
            ``MultiResolutionMelLoss``, sample rate from the tokenizer); None = auto: 1.0 for
            audio, 0 for images.
        stft_weight: multi-resolution STFT loss (audio; ``spectral_args["stft"]``).
        spectral_args: ``{"mel": {...}, "stft": {...}}`` constructor arguments.
        perceptual_args: JSON-able arguments of the perceptual loss class.
        quantizer_weight: weight of the quantizer's own loss (``out.quantizer.loss``).
        disc_weight: weight of the adversarial loss (0 disables the discriminator entirely).
        disc_start: generator step at which the discriminator and the adversarial loss start.
        disc_loss: ``"hinge"`` or ``"nonsaturating"``.
        disc_lr: discriminator LR (default: ``lr``).
        discriminator: a name or list of names from :data:`DISCRIMINATORS` (several are judged
            together, losses averaged over all their sub-discriminators); ``"auto"``: PatchGAN
            for images, ``["mpd", "msstft"]`` for audio.
        discriminator_args: per-name constructor arguments, e.g. ``{"mpd": {"periods": [2, 3]}}``.
        disc_channels, disc_layers, disc_norm: PatchGAN size (see ``PatchGANDiscriminator``).
        feature_matching_weight: weight of the discriminator feature-matching loss (audio
            discriminators only; 0 disables).
        adaptive_disc_weight: scale the adversarial loss by VQGAN's gradient-norm ratio at the
            decoder's last layer (``tokenizer.last_layer`` when the tokenizer defines it, else the
            weight nearest the output in the autograd graph).
        adaptive_weight_max: clamp of that ratio.
        ema_decay: EMA decay of the tokenizer weights (None or 0: no EMA; export the live model).
        validate_ema: validate (and log images of) the EMA weights, which are what gets exported.
        eval_num_tokens: flexible-length tokenizers: token counts at which validation also
            measures PSNR (default: K/8, K/4, K/2, K).
        eval_num_codebooks: variable-bitrate audio codecs: codebook counts at which validation
            also measures the mel distance (default: the smallest, middle and largest supported).
        log_images: items logged at each validation: a reconstruction grid (images) or WAV files
            of originals and reconstructions (audio); 0 disables.
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
        perceptual_loss: str | None = "auto",
        perceptual_weight: float = 1.0,
        perceptual_args: dict[str, Any] | None = None,
        mel_weight: float | None = None,
        stft_weight: float = 0.0,
        spectral_args: dict[str, dict[str, Any]] | None = None,
        quantizer_weight: float = 1.0,
        disc_weight: float = 0.1,
        disc_start: int = 0,
        disc_loss: str = "hinge",
        disc_lr: float | None = None,
        discriminator: str | list[str] = "auto",
        discriminator_args: dict[str, dict[str, Any]] | None = None,
        feature_matching_weight: float = 0.0,
        disc_channels: int = 64,
        disc_layers: int = 3,
        disc_norm: str = "group",
        adaptive_disc_weight: bool = True,
        adaptive_weight_max: float = 1e4,
        ema_decay: float | None = 0.999,
        validate_ema: bool = True,
        eval_num_tokens: list[int] | None = None,
        eval_num_codebooks: list[int] | None = None,
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
        modality = getattr(self.tokenizer, "modality", "image")
        self.is_audio = modality == "audio"
        if perceptual_loss == "auto":
            perceptual_loss = _AUTO_PERCEPTUAL.get(modality)
        if perceptual_loss and self.is_audio and perceptual_weight > 0:
            raise ValueError(
                f"TokenizerModule: perceptual_loss={perceptual_loss!r} is an image loss and "
                f"{tokenizer!r} is an audio tokenizer; use mel_weight / stft_weight (set "
                "perceptual_loss: null)"
            )
        self.perceptual: nn.Module | None = None
        if perceptual_loss and perceptual_weight > 0:
            self.perceptual = create_perceptual_loss(perceptual_loss, **(perceptual_args or {}))
        self.mel_weight = (1.0 if self.is_audio else 0.0) if mel_weight is None else mel_weight
        spectral_args = dict(spectral_args or {})
        bad = sorted(set(spectral_args) - {"mel", "stft"})
        if bad:
            raise ValueError(
                f"TokenizerModule: spectral_args keys must be 'mel' and/or 'stft', got {bad}"
            )
        if (self.mel_weight > 0 or stft_weight > 0) and not self.is_audio:
            raise ValueError(
                f"TokenizerModule: mel_weight / stft_weight are audio losses and {tokenizer!r} "
                "is not an audio tokenizer"
            )
        self.mel_loss: nn.Module | None = None
        if self.is_audio:
            # Also built when its weight is 0: validation reports the mel distance of every run.
            mel_kw = dict(spectral_args.get("mel", {}))
            mel_kw.setdefault("sample_rate", self.tokenizer.sample_rate)
            self.mel_loss = MultiResolutionMelLoss(**mel_kw)
        self.stft_loss: nn.Module | None = None
        if stft_weight > 0:
            self.stft_loss = MultiResolutionSTFTLoss(**spectral_args.get("stft", {}))
        if discriminator == "auto":
            names = list(_AUTO_DISCRIMINATORS[modality])
        else:
            names = [discriminator] if isinstance(discriminator, str) else list(discriminator)
        if not names and disc_weight > 0:
            raise ValueError(
                "TokenizerModule: discriminator is an empty list; name one or set disc_weight: 0"
            )
        self.discriminator: nn.Module | None = None
        if disc_weight > 0:
            if "patchgan" in names:
                patch = dict(channels=disc_channels, num_layers=disc_layers, norm=disc_norm)
                discriminator_args = dict(discriminator_args or {})
                discriminator_args["patchgan"] = dict(
                    patch, **discriminator_args.get("patchgan", {})
                )
            self.discriminator = build_discriminator(
                names, channels=self.tokenizer.in_channels, args=discriminator_args
            )
        if feature_matching_weight > 0 and names == ["patchgan"]:
            raise ValueError(
                "TokenizerModule: feature_matching_weight needs a discriminator that returns "
                "features (mpd, msd, msstft, mrd); PatchGAN returns logits only"
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
        self.eval_num_codebooks: list[int] = []
        if self.is_audio:
            supported = self.tokenizer.supported_num_codebooks()
            if eval_num_codebooks is None:
                pick = {supported[0], supported[len(supported) // 2], supported[-1]}
                self.eval_num_codebooks = sorted(pick) if len(supported) > 1 else []
            else:
                bad = [k for k in eval_num_codebooks if int(k) not in supported]
                if bad:
                    raise ValueError(
                        f"TokenizerModule: eval_num_codebooks {bad} not supported by "
                        f"{tokenizer!r} (supported: {supported})"
                    )
                self.eval_num_codebooks = sorted({int(k) for k in eval_num_codebooks})

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
        try:
            tok.save_pretrained(path, **save_kwargs)  # atomic: see Tokenizer.save_pretrained
        finally:
            tok.train(was_training)
        return path

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls,
        checkpoint_path: str | Path,
        map_location: Any = None,
        hparams_file: str | Path | None = None,
        strict: bool | None = None,
        weights_only: bool = True,
        **kwargs: Any,
    ) -> TokenizerModule:
        """Lightning's ``load_from_checkpoint`` for a local file, unpickling with
        ``weights_only=True`` (tensors and plain containers only); URLs are refused, since
        Lightning fetches them and unpickles them with ``weights_only=False`` by default."""
        path = refuse_urls(checkpoint_path, "checkpoint")
        return super().load_from_checkpoint(
            path,
            map_location=map_location,
            hparams_file=hparams_file,
            strict=strict,
            weights_only=weights_only,
            **kwargs,
        )

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
            layout = "(B, channels, samples)" if self.is_audio else "(B, 3, H, W)"
            raise TypeError(
                f"TokenizerModule: expected batches of tensors {layout} in [-1, 1], got "
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

    def _logs_this_step(self) -> bool:
        """Whether Lightning writes this training step's logs: every ``log_every_n_steps``
        batches, counted as its logger connector counts them (batches, not optimizer steps).
        The same on every rank, so the all-reduced quantizer statistics stay in lockstep."""
        trainer = self._trainer
        if trainer is None:  # called outside a Trainer: nothing decides, so log
            return True
        every = trainer.log_every_n_steps
        return bool(every) and (trainer.fit_loop.epoch_loop._batches_that_stepped + 1) % every == 0

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
        if self.mel_loss is not None:
            out["mel"] = self.mel_loss(x_hat, x)
            if self.mel_weight > 0:
                nll = nll + self.mel_weight * out["mel"]
        if self.stft_loss is not None:
            out["stft"] = self.stft_loss(x_hat, x)
            nll = nll + hp.stft_weight * out["stft"]
        out["nll"] = nll
        return out

    def _quality(self, x_hat: Tensor, x: Tensor) -> tuple[str, Tensor]:
        """The headline per-batch quality metric: PSNR (images) or SI-SDR in dB (audio)."""
        if self.is_audio:
            from zoo.metrics.audio import si_sdr

            return "si_sdr", si_sdr(x_hat.detach().float(), x.float()).mean()
        return "psnr", psnr(x_hat, x).mean()

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
        # Codebook usage / perplexity only on the steps that are logged (a histogram per call).
        with collect_metrics(self._logs_this_step()):
            out = self.tokenizer(x)
        x_hat = out.reconstruction
        losses = self._reconstruction_losses(x_hat, x)
        loss = losses["nll"] + hp.quantizer_weight * out.quantizer.loss
        if disc_active:
            logits_fake, feats_fake = _judge(self.discriminator, x_hat)
            # Averaged over sub-discriminators (EnCodec, sec. 3.4), so the weight does not
            # depend on how many there are.
            g_loss = torch.stack(
                [generator_loss(lg, kind=hp.disc_loss) for lg in logits_fake]
            ).mean()
            if hp.adaptive_disc_weight:
                last = self._resolve_last_layer(x_hat)
                w = adaptive_weight(losses["nll"], g_loss, last, max_weight=hp.adaptive_weight_max)
            else:
                w = torch.ones((), device=x.device)
            loss = loss + hp.disc_weight * w * g_loss
            if hp.feature_matching_weight > 0:
                with torch.no_grad():
                    _, feats_real = _judge(self.discriminator, x)
                fm = feature_matching_loss(feats_real, feats_fake)
                loss = loss + hp.feature_matching_weight * fm
                logs["train/feature_matching"] = fm.detach()
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
            logits_real, _ = _judge(self.discriminator, x.detach())
            logits_fake, _ = _judge(self.discriminator, x_hat.detach())
            d_loss = torch.stack(
                [
                    discriminator_loss(r, f, kind=hp.disc_loss)
                    for r, f in zip(logits_real, logits_fake, strict=True)
                ]
            ).mean()
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(d_loss)
            if hp.grad_clip:
                self.clip_gradients(
                    opt_d, gradient_clip_val=hp.grad_clip, gradient_clip_algorithm="norm"
                )
            opt_d.step()
            self.untoggle_optimizer(opt_d)
            logs["train/d_loss"] = d_loss.detach()
            logs["train/logits_real"] = torch.stack([r.detach().mean() for r in logits_real]).mean()
            logs["train/logits_fake"] = torch.stack([f.detach().mean() for f in logits_fake]).mean()

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
        for name in ("perceptual", "mel", "stft"):
            if name in losses:
                logs[f"train/{name}"] = losses[name].detach()
        logs["train/quantizer_loss"] = out.quantizer.loss.detach()
        quality, value = self._quality(x_hat, x)
        logs[f"train/{quality}"] = value
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
        with collect_metrics():  # validation logs every batch (averaged over the epoch)
            out = tok(x)
        losses = self._reconstruction_losses(out.reconstruction, x)
        quality, value = self._quality(out.reconstruction, x)
        logs = {
            "val/rec": losses["rec"],
            f"val/{quality}": value,
            "val/quantizer_loss": out.quantizer.loss.detach().float(),
        }
        for name in ("perceptual", "mel", "stft"):
            if name in losses:
                logs[f"val/{name}"] = losses[name]
        logs.update({f"val/q_{k}": v.float() for k, v in out.quantizer.metrics.items()})
        logs.update({f"val/{k}": v.float() for k, v in out.metrics.items()})
        rows = [x, out.reconstruction]
        for k in self.eval_num_codebooks:
            x_k = tok.detokenize(tok.tokenize(x, num_codebooks=k), length=x.shape[-1])
            logs[f"val/mel@{k}"] = self.mel_loss(x_k, x)
        for k in self.eval_num_tokens:
            x_k = tok.detokenize(tok.tokenize(x, num_tokens=k))
            logs[f"val/psnr@{k}"] = psnr(x_k, x).mean()
            if k != tok.num_tokens:
                rows.append(x_k)
        self.log_dict(logs, on_step=False, on_epoch=True, sync_dist=True, batch_size=x.shape[0])
        # fast_dev_run suppresses logging (and must leave nothing behind).
        trainer = self.trainer
        if (
            batch_idx == 0
            and self.hparams.log_images
            and not trainer.sanity_checking
            and not trainer.fast_dev_run
        ):
            if self.is_audio:
                self._log_audio(x, out.reconstruction)
            else:
                self._log_image_grid(rows)

    def _log_audio(self, x: Tensor, x_hat: Tensor) -> None:
        """Originals and reconstructions as WAV files (TensorBoard ``add_audio`` when a
        TensorBoard logger is attached) under ``<log_dir>/audio/step<N>/``."""
        root = self.trainer.log_dir or self.trainer.default_root_dir
        if not self.trainer.is_global_zero:
            return
        import soundfile as sf

        n = min(self.hparams.log_images, x.shape[0])
        step = int(self.step_count)
        sr = self.tokenizer.sample_rate
        folder = Path(root) / "audio" / f"step{step:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            for tag, clip in (("original", x[i]), ("reconstruction", x_hat[i])):
                wav = clip.detach().float().clamp(-1, 1).cpu()
                sf.write(folder / f"{i:02d}_{tag}.wav", wav.T.numpy(), sr, subtype="PCM_16")
                for logger in self.loggers:
                    experiment = getattr(logger, "experiment", None)
                    if hasattr(experiment, "add_audio"):
                        experiment.add_audio(f"val/{tag}_{i}", wav.mean(0), step, sample_rate=sr)

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

    def on_fit_start(self) -> None:
        # A data module that declares its rate / channels must match the tokenizer's: a 16 kHz
        # model fed 24 kHz clips would train on pitch-shifted audio without any error.
        dm = getattr(self.trainer, "datamodule", None)
        if not self.is_audio or dm is None:
            return
        for name in ("sample_rate", "channels"):
            want = getattr(self.tokenizer, name)
            got = getattr(dm, name, None)
            if got is not None and int(got) != int(want):
                raise ValueError(
                    f"TokenizerModule: the data module's {name}={got} differs from the "
                    f"tokenizer's {name}={want} ({self.hparams.tokenizer!r}); set "
                    f"data.{name}: {want}"
                )

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
