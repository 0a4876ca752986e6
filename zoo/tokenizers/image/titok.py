"""TiTok: a 1D image tokenizer, with flexible-length (prefix-decodable) training options.

Yu et al., "An Image is Worth 32 Tokens for Reconstruction and Generation", NeurIPS 2024
(arXiv:2406.07550), single-stage recipe. A ViT encoder runs over the image patches concatenated
with ``K`` learnable latent tokens; only the latent tokens' outputs are projected to the quantizer
width and quantized. A ViT decoder runs over one mask token per patch position plus the quantized
latent tokens (projected up) and predicts pixel patches, which are unpatchified and refined by an
optional 3x3 conv.

Flexible length (``token_drop``), all on this one class:

- ``"tail"``: One-D-Piece tail token drop (Miwa et al., "One-D-Piece: Image Tokenizer Meets
  Quality-Controllable Compression", arXiv:2501.10064). In training a count ``k`` is sampled and
  only the first ``k`` tokens are decoded; the encoder attends over all ``K`` latent tokens.
- ``"nested"``: FlexTok-style nested dropout (Bachmann et al., "FlexTok: Resampling Images into
  1D Token Sequences of Flexible Length", arXiv:2502.13967) with a causal attention mask in the
  encoder: latent token ``i`` sees every patch and latent tokens ``<= i``; patches see only
  patches. The first ``k`` latents therefore never depend on later ones, so any prefix is
  self-contained (the codes of a ``k`` prefix equal those of an encoder run with ``k`` tokens).
- ``"none"``: upstream TiTok, always ``K`` tokens.

The decoder handles a prefix of ``k < K`` tokens in one of two ways:

- ``redundant_padding=False``: absent tokens are removed and the latent position embeddings
  sliced to ``k`` (One-D-Piece).
- ``redundant_padding=True``: absent positions are filled with one learned ``pad_token`` (plus
  their position embedding), so the decoder always sees ``K`` latent slots. This is our reading
  of ReTok's "Redundant Token Padding" (Fu et al., "Improving Flexible Image Tokenizers for
  Autoregressive Image Generation", arXiv:2601.01535), whose aim is to train the tail positions
  more often than plain nested dropout does. ReTok appends extra redundant query tokens and
  samples the truncation point over the longer sequence; here that effect is exposed as
  ``keep_all_prob`` (how often training keeps all ``K`` tokens). ReTok's hierarchical semantic
  regularization is a loss against a frozen foundation model and is not part of the model.

``token_count_dist`` picks ``k`` in training: ``"uniform"`` over ``1..K`` or ``"pow2"`` uniform over
``{1, 2, 4, ..., K}`` (FlexTok's exponentially spaced counts, so short prefixes are trained as
often as long ones).

Binary 1D tokenizers (Instella-T2I style) are TiTok variants with the ``"bsq"``/``"lfq"``
quantizers and many bits per token (``titok_test_bsq``, ``titok_s128_bsq``).

Layouts: images ``(B, 3, H, W)`` in ``[-1, 1]`` at ``image_size``; latents ``(B, k, token_dim)``
channels last; codes ``(B, k, num_codebooks)`` int64.

Published weights: upstream's single-stage TiTok (``titok_{bl64,bl128,sl256}_vq8k.in1k``,
``yucornetto/tokenizer_titok_*_vq8k_imagenet``), converted on load by
:func:`convert_titok_checkpoint` from the ``PyTorchModelHubMixin`` layout: top-level
``latent_tokens``, ``encoder.{patch_embed, class_embedding, positional_embedding,
latent_token_positional_embedding, ln_pre, transformer.{i}.{ln_1, attn.in_proj_weight/bias,
attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_post, conv_out}``, ``decoder.{decoder_embed,
class_embedding, positional_embedding, mask_token, latent_token_positional_embedding, ln_pre,
transformer, ln_post, ffn.0, conv_out}``, ``quantize.embedding.weight``; upstream images are in
[0, 1]. The legacy two-stage checkpoints (``titok_l32/b64/s128``, decoding through MaskGIT-VQGAN
proxy codes) are not supported.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from zoo.layers import (
    Downsample,
    PatchEmbed,
    ResnetBlock,
    Transformer,
    Upsample,
    create_norm,
    unpatchify,
)
from zoo.registry import PretrainedCfg, register_pretrained, register_tokenizer
from zoo.tokenizers.base import build_quantizer
from zoo.tokenizers.image.base import ImageTokenizer
from zoo.tokenizers.upstream import read_checkpoint

TOKEN_DROPS = ("none", "tail", "nested")
STEMS = ("patch", "conv")
LATENT_INITS = ("learned", "pyramid")
TOKEN_COUNT_DISTS = ("uniform", "pow2")


def _trunc_normal_init(module: nn.Module) -> None:
    # ViT convention (timm, TiTok): small truncated-normal linear weights, zero biases.
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def pyramid_cells(grid: int, num_tokens: int) -> Tensor:
    """Coarse-to-fine assignment of latent tokens to patch-grid cells: ``(num_tokens, grid**2)``
    with ``M[i, j] = 1`` when token ``i``'s cell holds patch ``j``.

    Token 0 covers the whole grid, tokens 1-4 its 2 x 2 quadrants, the next 16 a 4 x 4 split, and
    so on (row-major within a level) down to single patches; tokens beyond the finest level get
    no cell (an all-zero row). Used by ``latent_init="pyramid"``.
    """
    rows: list[Tensor] = []
    s = 1
    while s <= grid and len(rows) < num_tokens:
        if grid % s == 0:
            c = grid // s
            for r in range(s):
                for q in range(s):
                    if len(rows) == num_tokens:
                        break
                    m = torch.zeros(grid, grid)
                    m[r * c : (r + 1) * c, q * c : (q + 1) * c] = 1
                    rows.append(m.flatten())
        s *= 2
    rows += [torch.zeros(grid * grid)] * (num_tokens - len(rows))
    return torch.stack(rows)


def _stem_levels(patch_size: int, stem_channels: list[int], who: str) -> int:
    levels = patch_size.bit_length() - 1
    if patch_size != 1 << levels or len(stem_channels) != levels + 1:
        raise ValueError(
            f"{who}: stem='conv' needs a power-of-two patch_size and len(stem_channels) == "
            f"log2(patch_size) + 1 (one width per resolution, full first); got patch_size="
            f"{patch_size}, stem_channels={stem_channels}"
        )
    return levels


class ConvStem(nn.Module):
    """Convolutional patch embedding: ``(B, C, H, W)`` -> tokens ``(B, (H/p)(W/p), width)``,
    row-major over the grid. A 3x3 conv at full resolution, then per halving a strided conv and
    a ResNet block (``stem_channels[i]`` wide at resolution ``H / 2**i``), GroupNorm, SiLU and a
    1x1 projection to ``width``. Unlike a linear patch embedding, neighbouring pixels are mixed
    before the transformer sees them, which is what lets a small model learn quickly."""

    def __init__(self, *, in_channels: int, width: int, stem_channels: list[int]) -> None:
        super().__init__()
        ch = [int(c) for c in stem_channels]
        self.conv_in = nn.Conv2d(in_channels, ch[0], 3, padding=1)
        self.down = nn.ModuleList(Downsample(channels=ch[i]) for i in range(len(ch) - 1))
        self.blocks = nn.ModuleList(
            ResnetBlock(in_channels=ch[i], out_channels=ch[i + 1]) for i in range(len(ch) - 1)
        )
        self.norm_out = create_norm("groupnorm", ch[-1])
        self.proj = nn.Conv2d(ch[-1], width, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv_in(x)
        for down, block in zip(self.down, self.blocks, strict=True):
            h = block(down(h))
        h = self.proj(F.silu(self.norm_out(h)))
        return h.flatten(2).transpose(1, 2)


class ConvHead(nn.Module):
    """Mirror of :class:`ConvStem`: tokens ``(B, gh * gw, width)`` -> pixels ``(B, C, H, W)``:
    1x1 projection, then per doubling a ResNet block and nearest upsampling + 3x3 conv, a final
    ResNet block, GroupNorm, SiLU and a 3x3 conv to the output channels."""

    def __init__(
        self, *, out_channels: int, width: int, stem_channels: list[int], grid: int
    ) -> None:
        super().__init__()
        ch = [int(c) for c in stem_channels]
        self.grid = grid
        self.proj = nn.Conv2d(width, ch[-1], 1)
        self.blocks = nn.ModuleList(
            ResnetBlock(in_channels=ch[i + 1], out_channels=ch[i])
            for i in reversed(range(len(ch) - 1))
        )
        self.up = nn.ModuleList(Upsample(channels=ch[i]) for i in reversed(range(len(ch) - 1)))
        self.block_out = ResnetBlock(in_channels=ch[0])
        self.norm_out = create_norm("groupnorm", ch[0])
        self.conv_out = nn.Conv2d(ch[0], out_channels, 3, padding=1)

    def forward(self, tokens: Tensor) -> Tensor:
        b, n, w = tokens.shape
        h = self.proj(tokens.transpose(1, 2).reshape(b, w, self.grid, self.grid))
        for block, up in zip(self.blocks, self.up, strict=True):
            h = up(block(h))
        h = self.block_out(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class TiTokEncoder(nn.Module):
    """ViT over ``[cls, patches, latent tokens]``; returns the latent tokens projected to
    ``token_dim``: ``(B, k, token_dim)``."""

    def __init__(
        self,
        *,
        in_channels: int,
        grid: int,
        patch_size: int,
        num_latent_tokens: int,
        width: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        token_dim: int,
        causal_latents: bool,
        stem_channels: list[int] | None = None,
        norm_eps: float = 1e-6,
        pyramid: bool = False,
    ) -> None:
        super().__init__()
        scale = width**-0.5
        self.num_patches = grid * grid
        self.causal_latents = causal_latents
        # Each latent token starts from the mean patch embedding of its pyramid cell, so the
        # codes depend on the image from the first step (see TiTok's latent_init).
        if pyramid:
            cells = pyramid_cells(grid, num_latent_tokens)
            pool = cells / cells.sum(1, keepdim=True).clamp_min(1)
            self.register_buffer("pyramid_pool", pool, persistent=False)
        else:
            self.pyramid_pool = None
        if stem_channels:
            self.patch_embed = ConvStem(
                in_channels=in_channels, width=width, stem_channels=stem_channels
            )
        else:
            self.patch_embed = PatchEmbed(in_channels=in_channels, dim=width, patch_size=patch_size)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(self.num_patches + 1, width))
        # Upstream keeps latent tokens and their position embedding as two parameters that are
        # always summed; one parameter is the same function (a converter adds the two).
        self.latent_tokens = nn.Parameter(scale * torch.randn(num_latent_tokens, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(
            dim=width, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, norm_eps=norm_eps
        )
        self.ln_post = nn.LayerNorm(width)
        self.proj_out = nn.Linear(width, token_dim)

    def attention_mask(self, num_latents: int, device: torch.device) -> Tensor | None:
        """Boolean ``(N, N)`` mask (True = may attend) for nested dropout, else None."""
        if not self.causal_latents:
            return None
        n_img = self.num_patches + 1
        n = n_img + num_latents
        mask = torch.zeros(n, n, dtype=torch.bool, device=device)
        mask[:, :n_img] = True  # everyone sees the image; the image sees only itself
        mask[n_img:, n_img:] = torch.ones(
            num_latents, num_latents, dtype=torch.bool, device=device
        ).tril()
        return mask

    def forward(self, x: Tensor, num_latents: int) -> Tensor:
        b = x.shape[0]
        patches = self.patch_embed(x)
        cls = self.class_embedding.expand(b, 1, -1).to(patches.dtype)
        img = torch.cat([cls, patches], dim=1) + self.positional_embedding.to(patches.dtype)
        lat = self.latent_tokens[:num_latents].expand(b, -1, -1).to(patches.dtype)
        if self.pyramid_pool is not None:
            lat = lat + self.pyramid_pool[:num_latents].to(patches.dtype) @ patches
        h = self.ln_pre(torch.cat([img, lat], dim=1))
        h = self.transformer(h, attn_mask=self.attention_mask(num_latents, x.device))
        return self.proj_out(self.ln_post(h[:, self.num_patches + 1 :]))


class TiTokDecoder(nn.Module):
    """ViT over ``[cls, mask token per patch, latent tokens]``; predicts pixels ``(B, C, H, W)``."""

    def __init__(
        self,
        *,
        out_channels: int,
        grid: int,
        patch_size: int,
        num_latent_tokens: int,
        width: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        token_dim: int,
        redundant_padding: bool,
        conv_refiner: bool,
        stem_channels: list[int] | None = None,
        norm_eps: float = 1e-6,
        pyramid: bool = False,
    ) -> None:
        super().__init__()
        scale = width**-0.5
        self.grid = grid
        # The mirror of the encoder's pooling: every patch slot also receives the (embedded)
        # latent tokens whose pyramid cells hold it, so a k-token prefix already paints its
        # coarse-to-fine layout before attention refines it.
        if pyramid:
            cells = pyramid_cells(grid, num_latent_tokens)
            self.register_buffer("pyramid_unpool", cells.t().contiguous(), persistent=False)
        else:
            self.pyramid_unpool = None
        self.patch_size = patch_size
        self.out_channels = out_channels
        self.num_latent_tokens = num_latent_tokens
        self.decoder_embed = nn.Linear(token_dim, width)
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.mask_token = nn.Parameter(scale * torch.randn(width))
        self.latent_token_positional_embedding = nn.Parameter(
            scale * torch.randn(num_latent_tokens, width)
        )
        self.pad_token = nn.Parameter(scale * torch.randn(width)) if redundant_padding else None
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(
            dim=width, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, norm_eps=norm_eps
        )
        self.ln_post = nn.LayerNorm(width)
        if stem_channels:
            self.pixel_head = ConvHead(
                out_channels=out_channels, width=width, stem_channels=stem_channels, grid=grid
            )
            self.conv_out = nn.Identity()
        else:
            self.pixel_head = nn.Linear(width, patch_size * patch_size * out_channels)
            self.conv_out = (
                nn.Conv2d(out_channels, out_channels, 3, padding=1)
                if conv_refiner
                else nn.Identity()
            )

    def forward(self, quantized: Tensor) -> Tensor:
        b, k, _ = quantized.shape
        lat = self.decoder_embed(quantized)
        unpooled = None
        if self.pyramid_unpool is not None:
            unpooled = self.pyramid_unpool[:, :k].to(lat.dtype) @ lat
        if self.pad_token is not None:
            # Sliced from a full-length expand even when k == K (an empty slice), so pad_token is
            # in the autograd graph every step and DDP never sees it as an unused parameter.
            pad = self.pad_token.expand(b, self.num_latent_tokens, -1)[:, k:].to(lat.dtype)
            lat = torch.cat([lat, pad], dim=1)
        lat = lat + self.latent_token_positional_embedding[: lat.shape[1]].to(lat.dtype)
        n_patches = self.grid * self.grid
        cls = self.class_embedding.expand(b, 1, -1)
        masks = self.mask_token.expand(b, n_patches, -1)
        img = (torch.cat([cls, masks], dim=1) + self.positional_embedding).to(lat.dtype)
        if unpooled is not None:
            img = torch.cat([img[:, :1], img[:, 1:] + unpooled], dim=1)
        h = self.transformer(self.ln_pre(torch.cat([img, lat], dim=1)))
        if isinstance(self.pixel_head, ConvHead):
            return self.pixel_head(self.ln_post(h[:, 1 : 1 + n_patches]))
        pixels = self.pixel_head(self.ln_post(h[:, 1 : 1 + n_patches]))
        img_out = unpatchify(pixels, self.patch_size, (self.grid, self.grid), self.out_channels)
        return self.conv_out(img_out)


class TiTok(ImageTokenizer):
    """TiTok 1D tokenizer (see the module docstring for the flexible-length options).

    Input: images ``(B, in_channels, image_size, image_size)``, float in ``[-1, 1]``.
    Tokens: a 1D sequence of ``num_latent_tokens`` tokens; codes ``(B, k, num_codebooks)``.

    Args:
        image_size: side of the square input (position embeddings are learned on its patch grid).
        patch_size: ViT patch side; ``image_size`` must be a multiple of it.
        num_latent_tokens: ``K``, the maximum number of tokens per image.
        encoder_width, encoder_depth, encoder_heads: encoder ViT size.
        decoder_width, decoder_depth, decoder_heads: decoder ViT size.
        mlp_ratio: MLP hidden width / width in both ViTs.
        token_dim: width of the latent tokens given to the quantizer (TiTok: 12).
        quantizer: registered quantizer name (``"vq"``, ``"fsq"``, ``"bsq"``, ``"lfq"``, ...).
        quantizer_kwargs: its keyword arguments, without ``dim`` (set to ``token_dim``).
        token_drop: ``"none"``, ``"tail"`` (One-D-Piece) or ``"nested"`` (FlexTok, causal latents).
        token_count_dist: distribution of the training token count: ``"uniform"`` or ``"pow2"``.
        keep_all_prob: probability that a training step keeps all ``K`` tokens anyway.
        redundant_padding: decoder fills absent tail positions with a learned pad token
            (ReTok) instead of removing them (One-D-Piece).
        conv_refiner: 3x3 conv after unpatchifying the predicted pixels (upstream ``conv_out``).
        in_channels: image channels.
        stem: ``"patch"`` (upstream: linear patch embedding and pixel head) or ``"conv"``: a
            small CNN embeds the patches and another renders the pixels (:class:`ConvStem`,
            :class:`ConvHead`), the hybrid that trains in CPU budgets.
        stem_channels: ``stem="conv"`` only: CNN widths per resolution, full resolution first,
            ``log2(patch_size) + 1`` entries.
        latent_init: ``"learned"`` (upstream: latent tokens are learned vectors, identical for
            every image until attention learns to look) or ``"pyramid"``: token ``i`` also gets
            the mean patch embedding of its cell in a coarse-to-fine pyramid (whole image, 2 x 2,
            4 x 4, ...; see :func:`pyramid_cells`), and the decoder adds each embedded token to
            the patch slots of its cell. Without it the latents of a model trained from scratch
            start out the same for every image (across-image std ~1e-4 of their size), so every
            image gets the same codes and the decoder learns the dataset mean first.
        norm_eps: epsilon of the transformer blocks' LayerNorms (upstream TiTok: 1e-5, PyTorch's
            default; ``ln_pre`` / ``ln_post`` always use 1e-5).
    """

    def __init__(
        self,
        *,
        image_size: int = 256,
        patch_size: int = 16,
        num_latent_tokens: int = 32,
        encoder_width: int = 512,
        encoder_depth: int = 8,
        encoder_heads: int = 8,
        decoder_width: int = 512,
        decoder_depth: int = 8,
        decoder_heads: int = 8,
        mlp_ratio: float = 4.0,
        token_dim: int = 12,
        quantizer: str = "vq",
        quantizer_kwargs: dict[str, Any] | None = None,
        token_drop: str = "none",
        token_count_dist: str = "uniform",
        keep_all_prob: float = 0.0,
        redundant_padding: bool = False,
        conv_refiner: bool = True,
        in_channels: int = 3,
        stem: str = "patch",
        stem_channels: list[int] | None = None,
        norm_eps: float = 1e-6,
        latent_init: str = "learned",
    ) -> None:
        super().__init__()
        if latent_init not in LATENT_INITS:
            raise ValueError(
                f"TiTok: latent_init must be one of {LATENT_INITS}, got {latent_init!r}"
            )
        if stem not in STEMS:
            raise ValueError(f"TiTok: stem must be one of {STEMS}, got {stem!r}")
        if stem == "conv":
            _stem_levels(patch_size, list(stem_channels or []), "TiTok")
        elif stem_channels:
            raise ValueError("TiTok: stem_channels is only used with stem='conv'")
        if image_size % patch_size:
            raise ValueError(
                f"TiTok: image_size ({image_size}) must be a multiple of patch_size ({patch_size})"
            )
        if token_drop not in TOKEN_DROPS:
            raise ValueError(f"TiTok: token_drop must be one of {TOKEN_DROPS}, got {token_drop!r}")
        if token_count_dist not in TOKEN_COUNT_DISTS:
            raise ValueError(
                f"TiTok: token_count_dist must be one of {TOKEN_COUNT_DISTS}, got "
                f"{token_count_dist!r}"
            )
        if not 0.0 <= keep_all_prob <= 1.0:
            raise ValueError(f"TiTok: keep_all_prob must lie in [0, 1], got {keep_all_prob}")
        if num_latent_tokens < 1:
            raise ValueError(f"TiTok: num_latent_tokens must be >= 1, got {num_latent_tokens}")
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_tokens = num_latent_tokens
        self.token_dim = token_dim
        self.token_drop = token_drop
        self.token_count_dist = token_count_dist
        self.keep_all_prob = keep_all_prob
        # Instance attribute: whether prefixes are decodable depends on the training recipe.
        self.flexible_length = token_drop != "none"
        self.in_channels = in_channels
        self.input_size = (image_size, image_size)
        self.input_multiple = patch_size
        grid = image_size // patch_size
        self.encoder = TiTokEncoder(
            in_channels=in_channels,
            grid=grid,
            patch_size=patch_size,
            num_latent_tokens=num_latent_tokens,
            width=encoder_width,
            depth=encoder_depth,
            num_heads=encoder_heads,
            mlp_ratio=mlp_ratio,
            token_dim=token_dim,
            causal_latents=token_drop == "nested",
            stem_channels=stem_channels if stem == "conv" else None,
            norm_eps=norm_eps,
            pyramid=latent_init == "pyramid",
        )
        self.decoder = TiTokDecoder(
            out_channels=in_channels,
            grid=grid,
            patch_size=patch_size,
            num_latent_tokens=num_latent_tokens,
            width=decoder_width,
            depth=decoder_depth,
            num_heads=decoder_heads,
            mlp_ratio=mlp_ratio,
            token_dim=token_dim,
            redundant_padding=redundant_padding,
            conv_refiner=conv_refiner,
            stem_channels=stem_channels if stem == "conv" else None,
            norm_eps=norm_eps,
            pyramid=latent_init == "pyramid",
        )
        self.apply(_trunc_normal_init)
        self.quantizer = build_quantizer(
            quantizer, quantizer_kwargs, token_dim, "TiTok", dim_name="token_dim"
        )

    # ------------------------------------------------------------------ hooks
    def encode(self, x: Tensor, num_tokens: int | None = None) -> Tensor:
        """Continuous latents ``(B, k, token_dim)`` of images ``(B, C, H, W)`` in ``[-1, 1]``:
        the first ``k = num_tokens`` (default all ``K``) latents of a full encoding.

        With ``token_drop="nested"`` the encoder runs with only ``k`` latent tokens, which is
        exact under the causal mask and cheaper; otherwise it runs with all ``K`` and slices.
        """
        k = self._resolve_num_tokens(num_tokens)
        if self.token_drop == "nested":
            return self.encoder(x, k)
        return self.encoder(x, self.num_tokens)[:, :k]

    def decode(self, quantized: Tensor, num_tokens: int | None = None) -> Tensor:
        """Images ``(B, C, image_size, image_size)``, roughly in ``[-1, 1]`` (not clamped), from
        quantized latents ``(B, k, token_dim)``; ``k < K`` needs a flexible-length model."""
        if quantized.ndim != 3 or quantized.shape[-1] != self.token_dim:
            raise ValueError(
                f"{self._label}: decode expects quantized latents (B, k, {self.token_dim}), got "
                f"{tuple(quantized.shape)}"
            )
        k = quantized.shape[1]
        if num_tokens is not None and num_tokens != k:
            raise ValueError(
                f"{self._label}: num_tokens={num_tokens} but quantized holds {k} tokens"
            )
        if not 1 <= k <= self.num_tokens or (k < self.num_tokens and not self.flexible_length):
            want = f"1..{self.num_tokens}" if self.flexible_length else str(self.num_tokens)
            raise ValueError(f"{self._label}: decode expects {want} tokens, got {k}")
        return self.decoder(quantized)

    def sample_num_tokens(self) -> int:
        """Training token count: ``K`` with probability ``keep_all_prob``, else drawn from
        ``token_count_dist`` (torch's global RNG)."""
        if self.keep_all_prob > 0 and float(torch.rand(())) < self.keep_all_prob:
            return self.num_tokens
        if self.token_count_dist == "pow2":
            choices = [
                1 << i for i in range(self.num_tokens.bit_length()) if 1 << i < self.num_tokens
            ]
            choices.append(self.num_tokens)
            return choices[int(torch.randint(len(choices), ()))]
        return int(torch.randint(1, self.num_tokens + 1, ()))


def _create_titok(variant: str, **kwargs: Any) -> TiTok:
    # The variant name is set on the instance by zoo.registry.create_tokenizer; kept here for
    # error messages of direct calls.
    try:
        return TiTok(**kwargs)
    except TypeError as err:
        raise TypeError(f"{variant}: {err}") from err


# ---------------------------------------------------------------------- upstream converter
# bytedance/1d-tokenizer (modeling/titok.py, modules/blocks.py) module paths -> ours.
_UPSTREAM_RULES = [
    (r"(encoder|decoder)\.transformer\.(\d+)\.ln_1\.", r"\1.transformer.blocks.\2.norm1."),
    (r"(encoder|decoder)\.transformer\.(\d+)\.ln_2\.", r"\1.transformer.blocks.\2.norm2."),
    (r"(encoder|decoder)\.transformer\.(\d+)\.attn\.in_proj_(weight|bias)$",
     r"\1.transformer.blocks.\2.attn.qkv.\3"),
    (r"(encoder|decoder)\.transformer\.(\d+)\.attn\.out_proj\.",
     r"\1.transformer.blocks.\2.attn.proj."),
    (r"(encoder|decoder)\.transformer\.(\d+)\.mlp\.c_fc\.", r"\1.transformer.blocks.\2.mlp.fc1."),
    (r"(encoder|decoder)\.transformer\.(\d+)\.mlp\.c_proj\.", r"\1.transformer.blocks.\2.mlp.fc2."),
    (r"encoder\.patch_embed\.", "encoder.patch_embed.proj."),
    (r"encoder\.conv_out\.", "encoder.proj_out."),
    (r"decoder\.ffn\.0\.", "decoder.pixel_head."),
    (r"quantize\.embedding\.weight$", "quantizer.codebook"),
]  # fmt: skip


def convert_titok_state_dict(state_dict: dict[str, Tensor], tok: TiTok) -> dict[str, Tensor]:
    """Rename a single-stage upstream TiTok state dict (``is_legacy=False``: the VQ-8k and the
    pixel-predicting models) for ``tok`` (built with the checkpoint's sizes, ``norm_eps=1e-5``).

    Upstream works on images in ``[0, 1]``; ours in ``[-1, 1]``. The conversion is folded into
    the weights: the patch embedding reads ``(x + 1) / 2`` and the output conv returns
    ``2 y - 1``. Upstream's ``latent_tokens`` and the encoder's latent position embedding are
    summed into our one parameter; 1x1 convs become linear layers. Legacy two-stage checkpoints
    (``titok_l32/b64/s128``: a decoder that predicts MaskGIT-VQGAN codes for a second decoder)
    are refused with a ValueError, as are checkpoints of other sizes (keys and shapes named).
    """
    sd = dict(state_dict)
    if "decoder.ffn.2.weight" in sd or any(k.startswith("pixel_decoder.") for k in sd):
        raise ValueError(
            "convert_titok_state_dict: a legacy two-stage TiTok checkpoint (its decoder predicts "
            "MaskGIT-VQGAN codes decoded by a second, convolutional decoder); only single-stage "
            "checkpoints (titok_*_vq8k, is_legacy=False) are supported"
        )
    if not isinstance(tok.decoder.conv_out, nn.Conv2d) or not isinstance(
        tok.decoder.pixel_head, nn.Linear
    ):
        raise ValueError(
            "convert_titok_state_dict: upstream TiTok needs stem='patch' and conv_refiner=True"
        )
    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        for pattern, repl in _UPSTREAM_RULES:
            key = re.sub("^" + pattern, repl, key)
        out[key] = value
    lat = out.pop("latent_tokens", None)
    lat_pos = out.pop("encoder.latent_token_positional_embedding", None)
    if lat is not None and lat_pos is not None:
        out["encoder.latent_tokens"] = lat + lat_pos
    for key in ("encoder.class_embedding", "decoder.class_embedding", "decoder.mask_token"):
        if key in out:
            out[key] = out[key].reshape(-1)
    for key in ("encoder.proj_out.weight", "decoder.pixel_head.weight"):
        if key in out and out[key].ndim == 4:
            out[key] = out[key].flatten(1)  # 1x1 conv -> linear
    w, b = out.get("encoder.patch_embed.proj.weight"), out.get("encoder.patch_embed.proj.bias")
    if w is not None and b is not None:  # reads (x + 1) / 2 for x in [-1, 1]
        out["encoder.patch_embed.proj.weight"] = w / 2
        out["encoder.patch_embed.proj.bias"] = b + w.sum(dim=(1, 2, 3)) / 2
    w, b = out.get("decoder.conv_out.weight"), out.get("decoder.conv_out.bias")
    if w is not None and b is not None:  # returns 2 y - 1 for y in [0, 1]
        out["decoder.conv_out.weight"] = w * 2
        out["decoder.conv_out.bias"] = b * 2 - 1
    ours = tok.state_dict()
    for key in ours:  # usage statistics start as in a fresh model
        if key.endswith(".cluster_size") and key not in out:
            out[key] = torch.ones_like(ours[key])
    missing, extra = sorted(set(ours) - set(out)), sorted(set(out) - set(ours))
    bad = [k for k in ours if k in out and out[k].shape != ours[k].shape]
    if missing or extra or bad:
        raise ValueError(
            "convert_titok_state_dict: the checkpoint does not match this architecture: model "
            f"keys not filled {missing[:5]}, checkpoint keys the model lacks {extra[:5]}, shape "
            f"mismatches {bad[:5]}; build the variant of that checkpoint (titok_bl64_vq8k, "
            "titok_bl128_vq8k, titok_sl256_vq8k)"
        )
    return {k: v.to(ours[k].dtype) for k, v in out.items()}


def convert_titok_checkpoint(path: str, tok: TiTok) -> dict[str, Tensor]:
    """Converter for :class:`~zoo.registry.PretrainedCfg`: read an upstream TiTok checkpoint
    (the ``PyTorchModelHubMixin`` folder / ``model.safetensors``, or a ``.bin`` state dict) and
    convert it."""
    return convert_titok_state_dict(read_checkpoint(path), tok)


# ---------------------------------------------------------------------- variants
_TITOK_VQ = {"quantizer": "vq", "quantizer_kwargs": {"codebook_size": 4096, "distance": "cosine"}}
# Upstream ViT sizes (TiTok Sec. 4): S / B / L.
_SIZES = {
    "s": {"width": 512, "depth": 8, "heads": 8},
    "b": {"width": 768, "depth": 12, "heads": 12},
    "l": {"width": 1024, "depth": 24, "heads": 16},
}


def _vit(size: str) -> dict[str, Any]:
    s = _SIZES[size]
    return {
        "encoder_width": s["width"],
        "encoder_depth": s["depth"],
        "encoder_heads": s["heads"],
        "decoder_width": s["width"],
        "decoder_depth": s["depth"],
        "decoder_heads": s["heads"],
    }


def _upstream(size: str, tokens: int) -> dict[str, Any]:
    return dict(
        image_size=256,
        patch_size=16,
        num_latent_tokens=tokens,
        token_dim=12,
        **_vit(size),
        **_TITOK_VQ,
    )


@register_tokenizer
def titok_test(**kwargs: Any) -> TiTok:
    """Tiny nested-dropout TiTok for tests: 32 px, patch 8, 8 tokens, FSQ [8, 5, 5, 5]."""
    args = dict(
        image_size=32, patch_size=8, num_latent_tokens=8, encoder_width=32, encoder_depth=1,
        encoder_heads=2, decoder_width=32, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0,
        token_dim=4, quantizer="fsq", quantizer_kwargs={"levels": [8, 5, 5, 5]},
        token_drop="nested", token_count_dist="pow2",
    )  # fmt: skip
    return _create_titok("titok_test", **dict(args, **kwargs))


@register_tokenizer
def titok_test_tail_pad(**kwargs: Any) -> TiTok:
    """Tiny One-D-Piece tail-drop TiTok with ReTok-style decoder padding, for tests."""
    args = dict(
        image_size=16, patch_size=8, num_latent_tokens=6, encoder_width=32, encoder_depth=1,
        encoder_heads=2, decoder_width=32, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0,
        token_dim=4, quantizer="fsq", quantizer_kwargs={"levels": [5, 5, 5, 5]},
        token_drop="tail", redundant_padding=True, keep_all_prob=0.25, conv_refiner=False,
    )  # fmt: skip
    return _create_titok("titok_test_tail_pad", **dict(args, **kwargs))


@register_tokenizer
def titok_test_conv(**kwargs: Any) -> TiTok:
    """Tiny nested-dropout TiTok with the convolutional stem and head, for tests."""
    args = dict(
        image_size=32, patch_size=8, num_latent_tokens=8, encoder_width=32, encoder_depth=1,
        encoder_heads=2, decoder_width=32, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0,
        token_dim=4, quantizer="fsq", quantizer_kwargs={"levels": [8, 5, 5, 5]},
        token_drop="nested", token_count_dist="pow2", stem="conv", stem_channels=[8, 8, 16, 16],
        latent_init="pyramid",
    )  # fmt: skip
    return _create_titok("titok_test_conv", **dict(args, **kwargs))


@register_tokenizer
def titok_test_bsq(**kwargs: Any) -> TiTok:
    """Tiny binary 1D TiTok (BSQ, 16 bits per token as two 8-bit codes), fixed length."""
    args = dict(
        image_size=32, patch_size=8, num_latent_tokens=8, encoder_width=32, encoder_depth=1,
        encoder_heads=2, decoder_width=32, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0,
        token_dim=16, quantizer="bsq", quantizer_kwargs={"group_size": 8},
    )  # fmt: skip
    return _create_titok("titok_test_bsq", **dict(args, **kwargs))


@register_tokenizer
def titok_s128_vq(**kwargs: Any) -> TiTok:
    """TiTok-S-128: ViT-S encoder/decoder, 128 tokens, VQ 4096 x 12 (l2-normalised), 256 px."""
    return _create_titok("titok_s128_vq", **dict(_upstream("s", 128), **kwargs))


@register_tokenizer
def titok_b64_vq(**kwargs: Any) -> TiTok:
    """TiTok-B-64: ViT-B encoder/decoder, 64 tokens, VQ 4096 x 12 (l2-normalised), 256 px."""
    return _create_titok("titok_b64_vq", **dict(_upstream("b", 64), **kwargs))


@register_tokenizer
def titok_l32_vq(**kwargs: Any) -> TiTok:
    """TiTok-L-32: ViT-L encoder/decoder, 32 tokens, VQ 4096 x 12 (l2-normalised), 256 px."""
    return _create_titok("titok_l32_vq", **dict(_upstream("l", 32), **kwargs))


@register_tokenizer
def titok_s128_vq_flex(**kwargs: Any) -> TiTok:
    """TiTok-S-128 trained with One-D-Piece tail token drop (uniform k in 1..128)."""
    args = dict(_upstream("s", 128), token_drop="tail", token_count_dist="uniform")
    return _create_titok("titok_s128_vq_flex", **dict(args, **kwargs))


@register_tokenizer
def titok_b64_vq_flex(**kwargs: Any) -> TiTok:
    """TiTok-B-64 with FlexTok-style nested dropout (causal latents, k in {1, 2, 4, ..., 64})."""
    args = dict(_upstream("b", 64), token_drop="nested", token_count_dist="pow2")
    return _create_titok("titok_b64_vq_flex", **dict(args, **kwargs))


@register_tokenizer
def titok_s128_bsq(**kwargs: Any) -> TiTok:
    """Binary 1D TiTok-S-128 in the style of Instella-T2I: BSQ with 32 bits per token (two
    16-bit codes). The bit width is this project's choice, not a published configuration."""
    args = dict(
        _upstream("s", 128), token_dim=32, quantizer="bsq", quantizer_kwargs={"group_size": 16}
    )
    return _create_titok("titok_s128_bsq", **dict(args, **kwargs))


@register_tokenizer
def titok_cpu_flex(**kwargs: Any) -> TiTok:
    """CPU-trainable flexible TiTok: 64 px, patch 8 (64 patches), 32 tokens, width 192,
    depth 4 + 4, FSQ [8, 8, 8, 5, 5, 5] (64000 codes, ~16 bits per token), nested dropout over
    {1, 2, 4, ..., 32} (all 32 kept in half the steps). The shipped
    ``titok_cpu_flex.photos64`` weights use this architecture."""
    args = dict(
        image_size=64, patch_size=8, num_latent_tokens=32, encoder_width=192, encoder_depth=4,
        encoder_heads=3, decoder_width=192, decoder_depth=4, decoder_heads=3, mlp_ratio=4.0,
        token_dim=6, quantizer="fsq", quantizer_kwargs={"levels": [8, 8, 8, 5, 5, 5]},
        token_drop="nested", token_count_dist="pow2", keep_all_prob=0.5,
    )  # fmt: skip
    return _create_titok("titok_cpu_flex", **dict(args, **kwargs))


@register_tokenizer
def titok_cpu_flex128(**kwargs: Any) -> TiTok:
    """The flagship CPU-trainable flexible TiTok at 128 px: convolutional stem and head
    (widths 16-32-64-128-128, patch 16: an 8 x 8 grid), ViT width 192, depth 4 + 4, 64 tokens
    of 4 FSQ codes [8, 8, 8, 5, 5, 5] each (~64 bits per token, 0.25 bpp at full length),
    nested dropout over {1, 2, 4, ..., 64} tokens (all 64 kept in half the steps)."""
    args = dict(
        image_size=128, patch_size=16, num_latent_tokens=64, encoder_width=192, encoder_depth=4,
        encoder_heads=3, decoder_width=192, decoder_depth=4, decoder_heads=3, mlp_ratio=3.0,
        token_dim=24, quantizer="grouped",
        quantizer_kwargs={"quantizer": "fsq", "groups": 4,
                          "quantizer_kwargs": {"levels": [8, 8, 8, 5, 5, 5]}},
        token_drop="nested", token_count_dist="pow2", keep_all_prob=0.5,
        stem="conv", stem_channels=[16, 32, 64, 128, 128], latent_init="pyramid",
    )  # fmt: skip
    return _create_titok("titok_cpu_flex128", **dict(args, **kwargs))


# Weights trained by this project and shipped as package data (zoo/weights/<name>/, float16).
register_pretrained(
    "titok_cpu_flex.photos64",
    PretrainedCfg(
        package_weights="titok_cpu_flex.photos64",
        license="apache-2.0",
        training_data=(
            "20,000 multi-scale 64 px crops of 35 real photographs from Debian wallpaper packages "
            "(mate-backgrounds, plasma-workspace-wallpapers: GPL-2+; lxqt-themes: LGPL-2.1+); "
            "built by `python -m zoo.data.photos`"
        ),
        resolution=64,
        notes=(
            "CPU-scale default: configs/image/titok_cpu_flex.yaml, 1800 steps x 32 crops, 25 min "
            "on 2 CPU cores; EMA weights. Validated on the bundled scikit-image / matplotlib "
            "photos."
        ),
    ),
)


# Upstream single-stage TiTok checkpoints (bytedance/1d-tokenizer), converted on load.
_TITOK_PAPER = (
    "Yu et al., An Image is Worth 32 Tokens for Reconstruction and Generation, NeurIPS 2024, "
    "arXiv:2406.07550"
)


def _upstream_vq8k(encoder: str, tokens: int) -> dict[str, Any]:
    """Upstream ``titok_{enc}l{tokens}_vq8k``: ViT-``enc`` encoder, ViT-L decoder, patch 16 at
    256 px, 64-d tokens, VQ 8192 codes (l2 lookup of raw codewords), pixel head + 3x3 conv."""
    e, d = _SIZES[encoder], _SIZES["l"]
    return dict(
        image_size=256, patch_size=16, num_latent_tokens=tokens, token_dim=64,
        encoder_width=e["width"], encoder_depth=e["depth"], encoder_heads=e["heads"],
        decoder_width=d["width"], decoder_depth=d["depth"], decoder_heads=d["heads"],
        quantizer="vq", quantizer_kwargs={"codebook_size": 8192, "distance": "l2"},
        conv_refiner=True, norm_eps=1e-5,
    )  # fmt: skip


def _vq8k_cfg(repo: str, rfid: float) -> dict[str, PretrainedCfg]:
    return {
        "in1k": PretrainedCfg(
            hub_id=f"yucornetto/{repo}",
            revision="main",
            filename="model.safetensors",
            converter="convert_titok_checkpoint",
            license="Apache-2.0",
            paper=_TITOK_PAPER,
            training_data="ImageNet-1k train",
            resolution=256,
            metrics={"rfid": rfid},
            metrics_dataset="ImageNet-1k val (50k), 256 px",
            notes="upstream single-stage TiTok (PyTorchModelHubMixin repo), converted on load "
            "(its [0, 1] input/output range folded into the first and last convs)",
        )
    }


@register_tokenizer(pretrained_cfgs=_vq8k_cfg("tokenizer_titok_bl64_vq8k_imagenet", 2.06))
def titok_bl64_vq8k(**kwargs: Any) -> TiTok:
    """Upstream TiTok-BL-64 VQ: ViT-B encoder, ViT-L decoder, 64 tokens of 13 bits (832 bits)."""
    return _create_titok("titok_bl64_vq8k", **dict(_upstream_vq8k("b", 64), **kwargs))


@register_tokenizer(pretrained_cfgs=_vq8k_cfg("tokenizer_titok_bl128_vq8k_imagenet", 1.49))
def titok_bl128_vq8k(**kwargs: Any) -> TiTok:
    """Upstream TiTok-BL-128 VQ: ViT-B encoder, ViT-L decoder, 128 tokens (1664 bits)."""
    return _create_titok("titok_bl128_vq8k", **dict(_upstream_vq8k("b", 128), **kwargs))


@register_tokenizer(pretrained_cfgs=_vq8k_cfg("tokenizer_titok_sl256_vq8k_imagenet", 1.03))
def titok_sl256_vq8k(**kwargs: Any) -> TiTok:
    """Upstream TiTok-SL-256 VQ: ViT-S encoder, ViT-L decoder, 256 tokens (3328 bits)."""
    return _create_titok("titok_sl256_vq8k", **dict(_upstream_vq8k("s", 256), **kwargs))
