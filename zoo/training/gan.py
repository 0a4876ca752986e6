"""The adversarial part of a training step: the generator's adversarial term (with VQGAN's
adaptive weight) and the discriminator's update, for any discriminator in
:data:`zoo.losses.DISCRIMINATORS` and any modality."""

from __future__ import annotations

from collections import deque
from typing import Any

import torch
from torch import Tensor, nn

from zoo.losses import (
    adaptive_weight,
    build_discriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_loss,
    judge,
)
from zoo.training.specs import AdversarialSpec


class Adversary:
    """The discriminator(s) of a run and the losses around them (``spec``: AdversarialSpec).
    A plain object: the training module registers ``discriminator`` as its own submodule, so
    checkpoints keep the ``discriminator.*`` keys."""

    def __init__(self, spec: AdversarialSpec, names: list[str], *, channels: int) -> None:
        if not names:
            raise ValueError(
                "TokenizerModule: discriminator is an empty list; name one or set "
                "adversarial.weight: 0"
            )
        self.spec = spec
        self.discriminator = build_discriminator(names, channels=channels, args=spec.args)
        if spec.feature_matching_weight > 0 and names == ["patchgan"]:
            raise ValueError(
                "TokenizerModule: feature_matching_weight needs a discriminator that returns "
                "features (mpd, msd, msstft, mrd); PatchGAN returns logits only"
            )
        # Name of the weight used for the adaptive weight: a name, not the Parameter, which
        # assigning to a Module attribute would register twice.
        self._last_layer_name: str | None = None

    def generator_term(
        self, tokenizer: nn.Module, x: Tensor, x_hat: Tensor, nll: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Weighted adversarial (+ feature matching) loss of the generator, and its logs."""
        spec = self.spec
        logits_fake, feats_fake = judge(self.discriminator, x_hat)
        # Averaged over sub-discriminators (EnCodec, sec. 3.4): the weight does not depend on
        # how many there are.
        g_loss = torch.stack([generator_loss(lg, kind=spec.loss) for lg in logits_fake]).mean()
        if spec.adaptive_weight:
            last = self.last_layer(tokenizer, x_hat)
            w = adaptive_weight(nll, g_loss, last, max_weight=spec.adaptive_weight_max)
        else:
            w = torch.ones((), device=x.device)
        loss = spec.weight * w * g_loss
        logs = {"train/g_loss": g_loss.detach(), "train/adaptive_weight": w}
        if spec.feature_matching_weight > 0:
            with torch.no_grad():
                _, feats_real = judge(self.discriminator, x)
            fm = feature_matching_loss(feats_real, feats_fake)
            loss = loss + spec.feature_matching_weight * fm
            logs["train/feature_matching"] = fm.detach()
        return loss, logs

    def discriminator_loss(self, x: Tensor, x_hat: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        logits_real, _ = judge(self.discriminator, x.detach())
        logits_fake, _ = judge(self.discriminator, x_hat.detach())
        pairs = zip(logits_real, logits_fake, strict=True)
        d_loss = torch.stack([discriminator_loss(r, f, kind=self.spec.loss) for r, f in pairs])
        logs = {
            "train/logits_real": torch.stack([r.detach().mean() for r in logits_real]).mean(),
            "train/logits_fake": torch.stack([f.detach().mean() for f in logits_fake]).mean(),
        }
        return d_loss.mean(), logs

    def last_layer(self, tokenizer: nn.Module, reconstruction: Tensor) -> nn.Parameter:
        """The decoder's output weight, for the adaptive adversarial weight.

        ``tokenizer.last_layer`` when the tokenizer defines it (a Parameter, a module with a
        ``weight``, or a method returning a Parameter); otherwise found once, on the first
        adversarial step, as the tokenizer weight (>= 2-d) nearest to the reconstruction in the
        autograd graph.
        """
        named = dict(tokenizer.named_parameters(remove_duplicate=False))
        declared: Any = getattr(tokenizer, "last_layer", None)
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
            f"{getattr(tokenizer, 'architecture', type(tokenizer).__name__)!r} in the autograd "
            "graph; give the tokenizer a `last_layer` Parameter or set "
            "adversarial.adaptive_weight: false"
        )
