"""LARP: a holistic 1D video tokenizer with a learned autoregressive prior.

Wang et al., "LARP: Tokenizing Videos with a Learned Autoregressive Generative Prior", ICLR 2025
(arXiv:2410.21264). The clip is cut into ``pt x p x p`` tubelets; a ViT encoder runs over the
tubelet tokens concatenated with ``N`` learned holistic queries, and only the queries' outputs
are quantized: ``N`` tokens describe the whole clip (not a patch each). A ViT decoder runs over
one mask token per tubelet position plus the (projected) quantized tokens and predicts the
tubelets' pixels.

The learned prior: a small causal transformer reads the quantized tokens ``q_0 .. q_{k-2}``
(after a learned start token) and predicts the codes of ``q_1 .. q_{k-1}`` (cross-entropy per
codebook). Its loss flows back into the encoder through the prior's continuous inputs, which is
what makes the token order predictable for a later autoregressive generator. ``forward`` adds
``prior_weight * prior_loss`` to ``out.quantizer.loss`` (the auxiliary loss the training loop
optimises, weighted there by the criterion's ``quantizer_weight``) and reports ``prior_loss``
and ``prior_accuracy`` (next-code accuracy) in ``out.metrics``. The prior is part of the model
(trained with it, saved with it) but never runs in ``tokenize`` / ``detokenize``.

Flexible length (``token_drop="tail"``, One-D-Piece / nested dropout as for images): in training
only the first ``k`` tokens (``k`` uniform in ``1..N``) are decoded, so any prefix decodes:
``tokenize(x, num_tokens=k)`` returns the first ``k`` tokens (the same as the first ``k`` of
all), ``detokenize`` accepts any prefix, and ``bits_per_item(k)`` is ``k`` tokens' bits.

Layouts: video ``(B, C, T, H, W)`` in ``[-1, 1]`` at exactly ``num_frames`` x ``frame_size`` x
``frame_size`` (learned position embeddings over the tubelet grid); latents ``(B, k, token_dim)``;
codes ``(B, k, num_codebooks)``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.layers import PatchEmbed, Transformer, unpatchify
from zoo.outputs import QuantizerOutput, TokenizerOutput
from zoo.registry import register_tokenizer
from zoo.tokenizers.base import build_quantizer
from zoo.tokenizers.video.base import VideoTokenizer

TOKEN_DROPS = ("none", "tail")
#: Largest codebook the prior predicts with a full softmax (use a grouped/binary quantizer with
#: codes of at most 16 bits for larger vocabularies).
MAX_PRIOR_CODEBOOK = 2**16


def _init_linear(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class LARP(VideoTokenizer):
    """LARP holistic 1D video tokenizer (see the module docstring).

    Args:
        frame_size, num_frames: the fixed clip size (``num_frames`` a multiple of
            ``temporal_patch``, ``frame_size`` of ``patch_size``).
        patch_size, temporal_patch: tubelet size ``pt x p x p``.
        num_latent_tokens: ``N``, the holistic tokens per clip.
        width, encoder_depth, decoder_depth, num_heads, mlp_ratio: ViT sizes.
        token_dim: quantizer width.
        quantizer: registered quantizer name; quantizer_kwargs: its arguments without ``dim``.
        prior_width, prior_depth, prior_heads: the autoregressive prior's transformer.
        prior_weight: weight of the prior loss inside ``out.quantizer.loss``.
        token_drop: ``tail`` (flexible length) or ``none`` (always ``N`` tokens).
        in_channels: video channels.
    """

    grid_tokens = False

    def __init__(
        self,
        *,
        frame_size: int = 128,
        num_frames: int = 16,
        patch_size: int = 8,
        temporal_patch: int = 4,
        num_latent_tokens: int = 256,
        width: int = 384,
        encoder_depth: int = 6,
        decoder_depth: int = 6,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        token_dim: int = 6,
        quantizer: str = "fsq",
        quantizer_kwargs: dict[str, Any] | None = None,
        prior_width: int = 256,
        prior_depth: int = 2,
        prior_heads: int = 4,
        prior_weight: float = 0.1,
        token_drop: str = "tail",
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        who = "LARP"
        if token_drop not in TOKEN_DROPS:
            raise ValueError(f"{who}: token_drop must be one of {TOKEN_DROPS}, got {token_drop!r}")
        if num_frames % temporal_patch or frame_size % patch_size:
            raise ValueError(
                f"{who}: num_frames ({num_frames}) must be a multiple of temporal_patch "
                f"({temporal_patch}) and frame_size ({frame_size}) of patch_size ({patch_size})"
            )
        self._init_video(
            num_frames=num_frames,
            frame_size=frame_size,
            temporal_factor=temporal_patch,
            spatial_factor=patch_size,
            first_frame_separate=False,
            fixed_num_frames=True,
            fixed_frame_size=True,
            in_channels=in_channels,
        )
        self.flexible_length = token_drop == "tail"  # type: ignore[misc]
        self.num_tokens = int(num_latent_tokens)
        self.token_dim, self.prior_weight = token_dim, float(prior_weight)
        self.patch = (temporal_patch, patch_size, patch_size)
        self.grid = (
            num_frames // temporal_patch,
            frame_size // patch_size,
            frame_size // patch_size,
        )
        n_patches = self.grid[0] * self.grid[1] * self.grid[2]
        scale = width**-0.5

        def tf(dim: int, depth: int, heads: int) -> Transformer:
            return Transformer(dim=dim, depth=depth, num_heads=heads, mlp_ratio=mlp_ratio)

        self.patch_embed = PatchEmbed(
            in_channels=in_channels, dim=width, patch_size=self.patch, dims=3
        )
        self.enc_pos = nn.Parameter(scale * torch.randn(n_patches, width))
        self.queries = nn.Parameter(scale * torch.randn(num_latent_tokens, width))
        self.encoder = tf(width, encoder_depth, num_heads)
        self.enc_norm = nn.LayerNorm(width, eps=1e-6)
        self.enc_proj = nn.Linear(width, token_dim)
        self.dec_proj = nn.Linear(token_dim, width)
        self.dec_latent_pos = nn.Parameter(scale * torch.randn(num_latent_tokens, width))
        self.mask_token = nn.Parameter(scale * torch.randn(width))
        self.dec_pos = nn.Parameter(scale * torch.randn(n_patches, width))
        self.decoder = tf(width, decoder_depth, num_heads)
        self.dec_norm = nn.LayerNorm(width, eps=1e-6)
        self.pixel_head = nn.Linear(width, in_channels * temporal_patch * patch_size**2)
        self.quantizer = build_quantizer(
            quantizer, quantizer_kwargs, token_dim, who, dim_name="token_dim"
        )
        if self.codebook_size > MAX_PRIOR_CODEBOOK:
            raise ValueError(
                f"{who}: the prior predicts each code with a softmax over codebook_size entries; "
                f"{self.codebook_size} > {MAX_PRIOR_CODEBOOK}: split the codes into groups of at "
                "most 16 bits (e.g. quantizer 'bsq'/'lfq' with group_size <= 16)"
            )
        # The learned autoregressive prior.
        self.prior_in = nn.Linear(token_dim, prior_width)
        self.prior_start = nn.Parameter(prior_width**-0.5 * torch.randn(prior_width))
        self.prior_pos = nn.Parameter(
            prior_width**-0.5 * torch.randn(num_latent_tokens, prior_width)
        )
        self.prior = tf(prior_width, prior_depth, prior_heads)
        self.prior_norm = nn.LayerNorm(prior_width, eps=1e-6)
        self.prior_head = nn.Linear(prior_width, self.num_codebooks * self.codebook_size)
        self.apply(_init_linear)

    # ------------------------------------------------------------------ hooks
    def encode(self, x: Tensor, num_tokens: int | None = None) -> Tensor:
        """Latents ``(B, N, token_dim)`` of clips ``(B, C, T, H, W)`` (the encoder always sees
        all ``N`` queries; callers keep a prefix)."""
        b = x.shape[0]
        patches = self.patch_embed(x) + self.enc_pos.to(x.dtype)
        queries = self.queries.expand(b, -1, -1).to(x.dtype)
        h = self.encoder(torch.cat([patches, queries], 1))
        return self.enc_proj(self.enc_norm(h[:, patches.shape[1] :]))

    def decode(self, quantized: Tensor, num_tokens: int | None = None) -> Tensor:
        """Clips ``(B, C, T, H, W)`` from the first ``k`` quantized tokens ``(B, k, d)``."""
        if quantized.ndim != 3 or quantized.shape[-1] != self.token_dim:
            raise ValueError(
                f"{self._label}: decode expects quantized tokens (B, k, {self.token_dim}), got "
                f"{tuple(quantized.shape)}"
            )
        b, k = quantized.shape[:2]
        lat = self.dec_proj(quantized) + self.dec_latent_pos[:k].to(quantized.dtype)
        masks = (self.mask_token + self.dec_pos).expand(b, -1, -1).to(quantized.dtype)
        h = self.decoder(torch.cat([masks, lat], 1))[:, : masks.shape[1]]
        return unpatchify(
            self.pixel_head(self.dec_norm(h)), self.patch, self.grid, self.in_channels
        )

    # ------------------------------------------------------------------ the prior
    def prior_logits(self, quantized: Tensor) -> Tensor:
        """Next-code logits ``(B, k, num_codebooks, codebook_size)``: position ``i`` predicts
        token ``i``'s codes from tokens ``< i`` (quantized latents ``(B, k, token_dim)``)."""
        b, k = quantized.shape[:2]
        start = self.prior_start.expand(b, 1, -1).to(quantized.dtype)
        h = torch.cat([start, self.prior_in(quantized[:, :-1])], 1) + self.prior_pos[:k]
        h = self.prior_norm(self.prior(h, is_causal=True))
        return self.prior_head(h).view(b, k, self.num_codebooks, self.codebook_size)

    def prior_loss(self, quantized: Tensor, codes: Tensor) -> tuple[Tensor, Tensor]:
        """``(cross-entropy, accuracy)`` of the prior's next-code predictions."""
        logits = self.prior_logits(quantized).float()
        loss = F.cross_entropy(logits.flatten(0, 2), codes.flatten())
        accuracy = (logits.argmax(-1) == codes).float().mean()
        return loss, accuracy.detach()

    def forward(self, x: Tensor, num_tokens: int | None = None) -> TokenizerOutput:
        """Training path of the base class plus the prior loss (see the module docstring)."""
        out = super().forward(x, num_tokens)
        q = out.quantizer
        prior, accuracy = self.prior_loss(q.quantized, q.codes)
        quantizer = QuantizerOutput(
            quantized=q.quantized,
            codes=q.codes,
            loss=q.loss + self.prior_weight * prior,
            metrics=q.metrics,
        )
        metrics = {**out.metrics, "prior_loss": prior.detach(), "prior_accuracy": accuracy}
        return TokenizerOutput(
            reconstruction=out.reconstruction,
            quantizer=quantizer,
            num_tokens=out.num_tokens,
            metrics=metrics,
        )


def _create_larp(variant: str, **kwargs: Any) -> LARP:
    try:
        return LARP(**kwargs)
    except TypeError as err:
        raise TypeError(f"{variant}: {err}") from err


@register_tokenizer
def larp_test(**kwargs: Any) -> LARP:
    """Tiny flexible-length LARP for tests: 16 px, 4 frames, tubelets 2 x 8 x 8 (8 tubelets),
    8 holistic tokens, width 32, FSQ [5, 4, 3], prior of width 16."""
    args = dict(
        frame_size=16, num_frames=4, patch_size=8, temporal_patch=2, num_latent_tokens=8,
        width=32, encoder_depth=1, decoder_depth=1, num_heads=2, mlp_ratio=2.0, token_dim=3,
        quantizer="fsq", quantizer_kwargs={"levels": [5, 4, 3]}, prior_width=16, prior_depth=1,
        prior_heads=2,
    )  # fmt: skip
    return _create_larp("larp_test", **dict(args, **kwargs))


@register_tokenizer
def larp_b_fsq(**kwargs: Any) -> LARP:
    """LARP at upstream-like sizes (our configuration, not a port): 128 px x 16 frames, tubelets
    4 x 8 x 8, 1024 holistic tokens, ViT width 768, 12 + 12 blocks, FSQ [8, 8, 8, 5, 5, 5],
    prior width 512 x 4 blocks. Upstream LARP-L uses 1024 tokens with a VQ of 8192 codes."""
    args = dict(
        frame_size=128, num_frames=16, patch_size=8, temporal_patch=4, num_latent_tokens=1024,
        width=768, encoder_depth=12, decoder_depth=12, num_heads=12, token_dim=6,
        quantizer="fsq", quantizer_kwargs={"levels": [8, 8, 8, 5, 5, 5]}, prior_width=512,
        prior_depth=4, prior_heads=8,
    )  # fmt: skip
    return _create_larp("larp_b_fsq", **dict(args, **kwargs))
