"""C-ViViT: Phenaki's causal video transformer tokenizer.

Villegas et al., "Phenaki: Variable Length Video Generation from Open Domain Textual
Descriptions", ICLR 2023 (arXiv:2210.02399), Sec. 2.1. The first frame is cut into ``p x p``
patches on its own, the rest into ``pt x p x p`` tubelets, so a clip of ``1 + pt k`` frames
gives ``1 + k`` token frames of ``(H/p) x (W/p)`` tokens (a one-frame clip is an image). The
encoder runs a spatial transformer over each token frame (learned spatial position embeddings,
so frames have a fixed size; use :meth:`~VideoTokenizer.tokenize_tiled` for larger ones) and
then a causal temporal transformer over each spatial position (rotary time positions, so clips
of any valid length work). The decoder mirrors it: causal temporal, then spatial transformer,
then linear heads back to pixels (one for the first frame, one for the tubelets).

Streaming: token frame ``j`` depends on input frames ``<= pt j`` only, so clips stream chunk by
chunk; the state keeps the frames of an incomplete tubelet and the spatially encoded history
that the causal temporal attention reads (memory grows with the stream's length: no KV cache
yet, each chunk re-runs the temporal layers over the history).

Layouts: video ``(B, C, T, H, W)`` in ``[-1, 1]``, ``T = 1 + pt k``, ``H = W = frame_size``;
latents ``(B, t, h, w, token_dim)``; codes ``(B, t, h, w, num_codebooks)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from zoo.layers import RotaryEmbedding, Transformer, patchify, unpatchify
from zoo.registry import register_tokenizer
from zoo.tokenizers.base import build_quantizer
from zoo.tokenizers.video.base import VideoTokenizer


def _init_linear(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class CViViT(VideoTokenizer):
    """Phenaki's C-ViViT (see the module docstring).

    Args:
        frame_size: frame side (fixed: learned spatial position embeddings); num_frames: nominal
            clip length (``1 + temporal_patch * k``; other such lengths work too).
        patch_size: spatial patch side ``p``; temporal_patch: tubelet length ``pt``.
        width, num_heads, mlp_ratio: transformer sizes (encoder and decoder).
        spatial_depth, temporal_depth: blocks of the spatial / causal temporal transformers
            (each of the encoder and the decoder).
        token_dim: quantizer width.
        quantizer: registered quantizer name; quantizer_kwargs: its arguments without ``dim``.
        in_channels: video channels.
    """

    supports_streaming = True
    causal = True

    def __init__(
        self,
        *,
        frame_size: int = 128,
        num_frames: int = 17,
        patch_size: int = 8,
        temporal_patch: int = 4,
        width: int = 256,
        spatial_depth: int = 4,
        temporal_depth: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        token_dim: int = 6,
        quantizer: str = "fsq",
        quantizer_kwargs: dict[str, Any] | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        who = "CViViT"
        if width % num_heads or (width // num_heads) % 2:
            raise ValueError(
                f"{who}: width ({width}) must be divisible by num_heads ({num_heads}) into even "
                "head widths (rotary time positions)"
            )
        self._init_video(
            num_frames=num_frames,
            frame_size=frame_size,
            temporal_factor=temporal_patch,
            spatial_factor=patch_size,
            first_frame_separate=True,
            fixed_frame_size=True,
            in_channels=in_channels,
        )
        self.patch_size, self.temporal_patch, self.token_dim = patch_size, temporal_patch, token_dim
        self.grid = frame_size // patch_size
        c, p, pt = in_channels, patch_size, temporal_patch
        n = self.grid * self.grid

        def tf(depth: int) -> Transformer:
            return Transformer(dim=width, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio)

        self.first_embed = nn.Linear(p * p * c, width)
        self.tube_embed = nn.Linear(pt * p * p * c, width)
        self.enc_pos = nn.Parameter(torch.randn(n, width) * 0.02)
        self.enc_spatial, self.enc_temporal = tf(spatial_depth), tf(temporal_depth)
        self.enc_norm = nn.LayerNorm(width, eps=1e-6)
        self.enc_proj = nn.Linear(width, token_dim)
        self.dec_proj = nn.Linear(token_dim, width)
        self.dec_pos = nn.Parameter(torch.randn(n, width) * 0.02)
        self.dec_temporal, self.dec_spatial = tf(temporal_depth), tf(spatial_depth)
        self.dec_norm = nn.LayerNorm(width, eps=1e-6)
        self.first_head = nn.Linear(width, p * p * c)
        self.tube_head = nn.Linear(width, pt * p * p * c)
        self.rope = RotaryEmbedding(head_dim=width // num_heads)
        self.apply(_init_linear)
        self.quantizer = build_quantizer(
            quantizer, quantizer_kwargs, token_dim, who, dim_name="token_dim"
        )

    # ------------------------------------------------------------------ pieces
    def _embed(self, x: Tensor, first: bool) -> Tensor:
        """Frames -> spatially encoded token frames ``(B, t, n, width)``: frame 0 alone when
        ``first``, then whole tubelets of ``x``."""
        b, p, pt = x.shape[0], self.patch_size, self.temporal_patch
        parts = []
        if first:
            parts.append(self.first_embed(patchify(x[:, :, 0], p))[:, None])
            x = x[:, :, 1:]
        k = x.shape[2] // pt
        if k:
            tubes = patchify(x[:, :, : k * pt], (pt, p, p))  # (B, k * n, pt p p C)
            parts.append(self.tube_embed(tubes).reshape(b, k, self.grid * self.grid, -1))
        h = torch.cat(parts, 1) + self.enc_pos
        t, n, d = h.shape[1:]
        return self.enc_spatial(h.reshape(b * t, n, d)).reshape(b, t, n, d)

    def _temporal(self, blocks: Transformer, h: Tensor) -> Tensor:
        """Causal attention along time for every spatial position: ``(B, t, n, d)``."""
        b, t, n, d = h.shape
        rope = self.rope(torch.arange(t, device=h.device))
        seq = h.transpose(1, 2).reshape(b * n, t, d)
        return blocks(seq, is_causal=True, rope=rope).reshape(b, n, t, d).transpose(1, 2)

    def _to_latents(self, h: Tensor) -> Tensor:
        b, t = h.shape[:2]
        z = self.enc_proj(self.enc_norm(h))
        return z.reshape(b, t, self.grid, self.grid, self.token_dim)

    def _pixels(self, h: Tensor, first: bool) -> Tensor:
        """Token frames ``(B, t, n, d)`` after the temporal layers -> frames; the first token
        frame is the clip's first frame when ``first``."""
        b, t, n, d = h.shape
        h = self.dec_spatial(h.reshape(b * t, n, d)).reshape(b, t, n, d)
        h = self.dec_norm(h)
        c, p, pt, g = self.in_channels, self.patch_size, self.temporal_patch, self.grid
        out = []
        if first:
            out.append(unpatchify(self.first_head(h[:, 0]), p, (g, g), c)[:, :, None])
            h = h[:, 1:]
        if h.shape[1]:
            k = h.shape[1]
            tubes = self.tube_head(h).reshape(b, k * n, -1)
            out.append(unpatchify(tubes, (pt, p, p), (k, g, g), c))
        return torch.cat(out, 2)

    # ------------------------------------------------------------------ hooks
    def encode(self, x: Tensor) -> Tensor:
        """Latents ``(B, t, h, w, token_dim)`` of clips ``(B, C, 1 + pt k, H, W)``."""
        return self._to_latents(self._temporal(self.enc_temporal, self._embed(x, True)))

    def decode(self, quantized: Tensor, num_tokens: int | None = None) -> Tensor:
        """Clips ``(B, C, 1 + pt (t - 1), H, W)`` from quantized latents ``(B, t, h, w, d)``."""
        if quantized.ndim != 5 or quantized.shape[-1] != self.token_dim:
            raise ValueError(
                f"{self._label}: decode expects quantized latents (B, t, h, w, {self.token_dim}),"
                f" got {tuple(quantized.shape)}"
            )
        b, t = quantized.shape[:2]
        h = self.dec_proj(quantized.reshape(b, t, -1, self.token_dim)) + self.dec_pos
        return self._pixels(self._temporal(self.dec_temporal, h), True)

    def _encode_chunk(self, x: Tensor, layers: dict) -> Tensor:
        pending = layers.get("pending")
        x = x if pending is None else torch.cat([pending, x], 2)
        first = "enc_history" not in layers
        usable = 0 if x.shape[2] == 0 else (
            1 + (x.shape[2] - 1) // self.temporal_patch * self.temporal_patch
            if first
            else x.shape[2] // self.temporal_patch * self.temporal_patch
        )  # fmt: skip
        layers["pending"] = x[:, :, usable:]
        if usable == 0:
            return x.new_zeros(x.shape[0], 0, self.grid, self.grid, self.token_dim)
        new = self._embed(x[:, :, :usable], first)
        hist = new if first else torch.cat([layers["enc_history"], new], 1)
        layers["enc_history"] = hist
        return self._to_latents(self._temporal(self.enc_temporal, hist)[:, -new.shape[1] :])

    def _decode_chunk(self, q: Tensor, layers: dict) -> Tensor:
        b, t = q.shape[:2]
        first = "dec_history" not in layers
        if t == 0:
            c, s = self.in_channels, self.frame_size
            return q.new_zeros(b, c, 0, s, s)
        new = self.dec_proj(q.reshape(b, t, -1, self.token_dim)) + self.dec_pos
        hist = new if first else torch.cat([layers["dec_history"], new], 1)
        layers["dec_history"] = hist
        return self._pixels(self._temporal(self.dec_temporal, hist)[:, -t:], first)


def _create_cvivit(variant: str, **kwargs: Any) -> CViViT:
    try:
        return CViViT(**kwargs)
    except TypeError as err:
        raise TypeError(f"{variant}: {err}") from err


@register_tokenizer
def cvivit_test(**kwargs: Any) -> CViViT:
    """Tiny C-ViViT for tests: 16 px, 5 frames, patch 4, tubelets of 4 (2 x 4 x 4 tokens),
    width 32, one spatial and one temporal block each side, FSQ [5, 4, 3]."""
    args = dict(
        frame_size=16, num_frames=5, patch_size=4, temporal_patch=4, width=32, spatial_depth=1,
        temporal_depth=1, num_heads=2, mlp_ratio=2.0, token_dim=3, quantizer="fsq",
        quantizer_kwargs={"levels": [5, 4, 3]},
    )  # fmt: skip
    return _create_cvivit("cvivit_test", **dict(args, **kwargs))


@register_tokenizer
def cvivit_b_fsq(**kwargs: Any) -> CViViT:
    """C-ViViT at Phenaki-like sizes (our configuration, not a port): 128 px, patch 8, tubelets
    of 4 (17 frames -> 5 x 16 x 16 tokens), width 512, 4 spatial + 4 causal temporal blocks
    each side, FSQ [8, 8, 8, 5, 5, 5]. Phenaki used VQ with 8192 codes."""
    args = dict(
        frame_size=128, num_frames=17, patch_size=8, temporal_patch=4, width=512,
        spatial_depth=4, temporal_depth=4, num_heads=8, token_dim=6, quantizer="fsq",
        quantizer_kwargs={"levels": [8, 8, 8, 5, 5, 5]},
    )  # fmt: skip
    return _create_cvivit("cvivit_b_fsq", **dict(args, **kwargs))
