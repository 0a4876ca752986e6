"""Causal transformer audio codec: patchified waveform, causal transformers, any quantizer.

In the lineage of the Causal Audio Tokenizer of MOSS-Audio-Tokenizer (OpenMOSS, 2025): no
convolutions, the waveform is cut into patches and every mixing step is causal self-attention, so
the codec streams by construction with one token of latency and a bounded state.

- encoder: audio ``(B, C, samples)`` -> patches of ``patch_size`` samples (``(B, F, C * P)``) ->
  linear to ``width`` -> causal transformer (``encoder_depth`` blocks) -> every ``merge``
  consecutive frames concatenated and projected to ``dimension``: one token per
  ``hop_length = patch_size * merge`` samples;
- quantizer: any registered quantizer over ``(B, tokens, dimension)``;
- decoder (mirror): linear from ``dimension`` to ``merge * width`` (one vector per frame) ->
  causal transformer (``decoder_depth`` blocks) -> linear to ``C * P`` samples per frame.

Blocks are pre-norm (RMSNorm) with rotary position embeddings (Su et al., arXiv:2104.09864) over
the frame index, causal attention limited to the last ``context`` frames (None: all) and a GELU
MLP. Frame ``f`` of the decoder output depends on tokens ``<= f // merge`` only; the encoder's
token ``t`` depends on samples before ``(t + 1) * hop_length``. Clips are zero-padded at the end
to whole tokens, which only changes the last token.

Streaming keeps, per transformer layer, the keys and values of the last ``context - 1`` frames
(a KV cache), plus the samples (encoder) of an incomplete patch group; chunked outputs equal
whole-clip outputs to float tolerance.

Layouts: audio ``(B, C, samples)`` in ``[-1, 1]``; latents ``(B, tokens, dimension)``; codes
``(B, tokens, k)`` int64.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.layers import Mlp, RotaryEmbedding, apply_rotary
from zoo.registry import register_tokenizer
from zoo.tokenizers.audio.base import AudioTokenizer, StreamState
from zoo.tokenizers.base import build_quantizer


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention over ``(B, T, dim)`` with RoPE on the absolute frame
    index and an optional window of ``context`` frames (query ``i`` sees keys ``i - context <
    j <= i``). ``forward`` takes the new frames and an optional cache of earlier keys/values."""

    def __init__(self, *, dim: int, num_heads: int, context: int | None) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"CausalSelfAttention: dim {dim} must be divisible by {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.context = context
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: Tensor,
        rope: tuple[Tensor, Tensor],
        start: int,
        cache: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``x`` holds frames ``start .. start + n - 1``; ``cache`` the rotated keys and values
        of the frames just before them. Returns the output and the updated (trimmed) cache."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        cos, sin = rope
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if cache is not None:
            k = torch.cat([cache[0], k], dim=2)
            v = torch.cat([cache[1], v], dim=2)
        past = k.shape[2] - n
        q_pos = torch.arange(start, start + n, device=x.device)
        k_pos = torch.arange(start - past, start + n, device=x.device)
        allowed = k_pos[None, :] <= q_pos[:, None]
        if self.context is not None:
            allowed &= k_pos[None, :] > q_pos[:, None] - self.context
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        drop = 0 if self.context is None else max(0, k.shape[2] - (self.context - 1))
        new_cache = (k[:, :, drop:], v[:, :, drop:])
        return self.proj(out.transpose(1, 2).reshape(b, n, d)), new_cache


class CausalBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, *, dim: int, num_heads: int, mlp_ratio: float, context: int | None):
        super().__init__()
        self.norm1 = nn.RMSNorm(dim, eps=1e-6)
        self.attn = CausalSelfAttention(dim=dim, num_heads=num_heads, context=context)
        self.norm2 = nn.RMSNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim=dim, hidden_dim=int(dim * mlp_ratio), act="gelu")

    def forward(self, x: Tensor, rope, start: int, cache=None) -> tuple[Tensor, Any]:
        h, cache = self.attn(self.norm1(x), rope, start, cache)
        x = x + h
        return x + self.mlp(self.norm2(x)), cache


class CausalTransformer(nn.Module):
    """``depth`` causal blocks over ``(B, T, dim)`` frames and a final RMSNorm.

    ``forward(x)`` runs a whole sequence; ``stream(x, state)`` the next frames with the KV cache
    in ``state`` (``{"pos": frames seen, "cache": per-layer (k, v)}``).
    """

    def __init__(
        self, *, dim: int, depth: int, num_heads: int, mlp_ratio: float, context: int | None
    ) -> None:
        super().__init__()
        self.rotary = RotaryEmbedding(head_dim=dim // num_heads)
        self.blocks = nn.ModuleList(
            CausalBlock(dim=dim, num_heads=num_heads, mlp_ratio=mlp_ratio, context=context)
            for _ in range(depth)
        )
        self.norm = nn.RMSNorm(dim, eps=1e-6)

    def forward(self, x: Tensor) -> Tensor:
        return self.stream(x, None)[0]

    def stream(self, x: Tensor, state: dict | None) -> tuple[Tensor, dict]:
        state = state or {"pos": 0, "cache": [None] * len(self.blocks)}
        if x.shape[1] == 0:
            return x, state
        start = state["pos"]
        rope = self.rotary(torch.arange(start, start + x.shape[1], device=x.device))
        for i, block in enumerate(self.blocks):
            x, state["cache"][i] = block(x, rope, start, state["cache"][i])
        state["pos"] = start + x.shape[1]
        return self.norm(x), state


class CausalAudioTransformerCodec(AudioTokenizer):
    """Patchified-waveform causal transformer codec (see the module docstring).

    Args:
        sample_rate, channels: audio format.
        patch_size: samples per transformer frame; merge: frames per token
            (``hop_length = patch_size * merge``).
        width, num_heads, mlp_ratio: transformer width, heads, MLP expansion.
        encoder_depth, decoder_depth: blocks in each transformer.
        context: attention window in frames (None: unlimited; the streaming state then grows
            with the stream).
        dimension: latent width (the quantizer's ``dim``).
        quantizer, quantizer_kwargs: any registered quantizer; ``dim`` is set to ``dimension``.
    """

    supports_streaming = True

    def __init__(
        self,
        *,
        sample_rate: int = 24000,
        channels: int = 1,
        patch_size: int = 80,
        merge: int = 4,
        width: int = 512,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        encoder_depth: int = 8,
        decoder_depth: int = 8,
        context: int | None = 256,
        dimension: int = 32,
        quantizer: str = "residual",
        quantizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        for name, v in (("patch_size", patch_size), ("merge", merge), ("width", width)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"CausalAudioTransformerCodec: {name} must be >= 1, got {v!r}")
        if context is not None and context < 1:
            raise ValueError(f"CausalAudioTransformerCodec: context must be >= 1, got {context}")
        self._init_audio(sample_rate=sample_rate, channels=channels, hop_length=patch_size * merge)
        self.causal = True
        self.patch_size, self.merge, self.width, self.dimension = (
            patch_size,
            merge,
            width,
            dimension,
        )
        block = dict(num_heads=num_heads, mlp_ratio=mlp_ratio, context=context)
        self.patch_in = nn.Linear(channels * patch_size, width)
        self.encoder = CausalTransformer(dim=width, depth=encoder_depth, **block)
        self.merge_out = nn.Linear(merge * width, dimension)
        if quantizer_kwargs is None and quantizer == "residual":
            quantizer_kwargs = {
                "quantizer": "fsq",
                "num_quantizers": 4,
                "quantizer_dropout": 0.5,
                "quantizer_kwargs": {"levels": [8, 8, 8, 5, 5, 5]},
                "scales": [1.0, 0.25, 0.0625, 0.015625],
            }
        self.quantizer = build_quantizer(
            quantizer,
            quantizer_kwargs,
            dimension,
            "CausalAudioTransformerCodec",
            dim_name="dimension",
        )
        self.split_in = nn.Linear(dimension, merge * width)
        self.decoder = CausalTransformer(dim=width, depth=decoder_depth, **block)
        self.patch_out = nn.Linear(width, channels * patch_size)
        self.apply(_init_weights)

    @property
    def last_layer(self) -> nn.Parameter:
        return self.patch_out.weight

    # ------------------------------------------------------------------ whole clips
    def _pad_to_hop(self, x: Tensor) -> Tensor:
        return F.pad(x, (0, self.num_frames(x.shape[-1]) * self.hop_length - x.shape[-1]))

    def _to_frames(self, x: Tensor) -> Tensor:
        """``(B, C, F * P)`` -> ``(B, F, C * P)`` (channel-major within a patch)."""
        b, c, n = x.shape
        return x.view(b, c, n // self.patch_size, self.patch_size).permute(0, 2, 1, 3).flatten(2)

    def _from_frames(self, frames: Tensor) -> Tensor:
        b, f, _ = frames.shape
        y = frames.view(b, f, self.channels, self.patch_size).permute(0, 2, 1, 3)
        return y.reshape(b, self.channels, f * self.patch_size)

    def encode(self, x: Tensor) -> Tensor:
        """Latents ``(B, ceil(samples / hop_length), dimension)`` of audio ``(B, C, samples)``."""
        h = self.encoder(self.patch_in(self._to_frames(self._pad_to_hop(x))))
        return self.merge_out(h.reshape(h.shape[0], -1, self.merge * self.width))

    def decode(self, quantized: Tensor, num_tokens: int | None = None) -> Tensor:
        """Audio ``(B, C, tokens * hop_length)`` from latents ``(B, tokens, dimension)``."""
        if quantized.ndim != 3 or quantized.shape[-1] != self.dimension:
            raise ValueError(
                f"{self._label}: decode expects quantized latents (B, tokens, {self.dimension}), "
                f"got {tuple(quantized.shape)}"
            )
        b, t, _ = quantized.shape
        frames = self.split_in(quantized).view(b, t * self.merge, self.width)
        return self._from_frames(self.patch_out(self.decoder(frames)))

    # ------------------------------------------------------------------ streaming
    def _encode_chunk(self, x: Tensor, state: StreamState, final: bool) -> Tensor:
        s = state.layers.setdefault("encoder", {"pending": x[..., :0], "transformer": None})
        pending = torch.cat([s["pending"], x], -1)
        if final:
            pending = self._pad_to_hop(pending) if pending.shape[-1] else pending
        whole = pending.shape[-1] // self.hop_length * self.hop_length
        s["pending"] = pending[..., whole:].clone()  # not a view that keeps the whole chunk
        h, s["transformer"] = self.encoder.stream(
            self.patch_in(self._to_frames(pending[..., :whole])), s["transformer"]
        )
        return self.merge_out(h.reshape(h.shape[0], -1, self.merge * self.width))

    def _decode_chunk(self, quantized: Tensor, state: StreamState, final: bool) -> Tensor:
        b, t, _ = quantized.shape
        frames = self.split_in(quantized).view(b, t * self.merge, self.width)
        h, state.layers["decoder"] = self.decoder.stream(frames, state.layers.get("decoder"))
        return self._from_frames(self.patch_out(h))


def _init_weights(module: nn.Module) -> None:
    # Transformer convention: small truncated-normal linear weights, zero biases.
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _create(variant: str, **kwargs: Any) -> CausalAudioTransformerCodec:
    try:
        return CausalAudioTransformerCodec(**kwargs)
    except TypeError as err:
        raise TypeError(f"{variant}: {err}") from err


# ---------------------------------------------------------------------- variants
@register_tokenizer
def cat_test(**kwargs: Any) -> CausalAudioTransformerCodec:
    """Tiny causal transformer codec for tests: 8 kHz, patch 4 x merge 2 (hop 8), width 16,
    one block each side, window 6 frames, residual FSQ 2 x [5, 5, 5]."""
    args = dict(
        sample_rate=8000,
        patch_size=4,
        merge=2,
        width=16,
        num_heads=2,
        mlp_ratio=2.0,
        encoder_depth=1,
        decoder_depth=1,
        context=6,
        dimension=3,
        quantizer="residual",
        quantizer_kwargs={
            "quantizer": "fsq",
            "num_quantizers": 2,
            "quantizer_kwargs": {"levels": [5, 5, 5]},
            "scales": [1.0, 0.2],
        },
    )
    return _create("cat_test", **dict(args, **kwargs))


@register_tokenizer
def cat_24khz_fsq(**kwargs: Any) -> CausalAudioTransformerCodec:
    """24 kHz causal transformer codec: patch 80 x merge 4 (75 tokens/s), width 512, 8 + 8 blocks,
    256-frame (0.85 s) attention window, residual FSQ 4 x 64,000 codes (4.8-19.2 kbps). A project
    configuration in the CAT lineage, not a published checkpoint."""
    return _create("cat_24khz_fsq", **kwargs)
