"""Return types shared by every quantizer and tokenizer.

One result type per layer (audiocraft ``QuantizedResult`` style): the fields never change with
a flag or with train/eval mode, so training code and users read the same attributes everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass
class QuantizerOutput:
    """What ``Quantizer.forward`` returns.

    Attributes:
        quantized: same shape and dtype as the input ``z`` (``(..., dim)``, channels last), with a
            straight-through (or rotation-trick) gradient to ``z``.
        codes: int64, shape ``(..., num_codebooks)``, each entry in ``[0, codebook_size)``.
        loss: scalar tensor, the quantizer's own weighted auxiliary losses (0 when it has none).
        metrics: detached scalar tensors for logging: the loss terms and other by-products of
            the step (commitment, entropies, ...), always; codebook usage and perplexity only
            inside :func:`zoo.quantizers.collect_metrics` (or later via
            ``quantizer.code_metrics(codes)``).
    """

    quantized: Tensor
    codes: Tensor
    loss: Tensor
    metrics: dict[str, Tensor] = field(default_factory=dict)


@dataclass
class TokenizerOutput:
    """What ``Tokenizer.forward`` returns.

    Attributes:
        reconstruction: the decoded input, same layout and value range as the input.
        quantizer: the quantizer's output on the latents (codes, aux loss, metrics).
        num_tokens: how many tokens per item the reconstruction was decoded from (flexible-length
            tokenizers may use fewer than their maximum during training).
        metrics: extra detached scalars from the tokenizer itself.
    """

    reconstruction: Tensor
    quantizer: QuantizerOutput
    num_tokens: int | None = None
    metrics: dict[str, Tensor] = field(default_factory=dict)
