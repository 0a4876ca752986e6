"""A 1D tokenizer over the latent grid of a frozen 2D tokenizer (TiTok's two-stage design).

Yu et al. (TiTok, arXiv:2406.07550) first trained their 1D tokenizer on the codes of a frozen
MaskGIT-VQGAN and decoded images through that VQGAN's decoder; the 1D model never touches
pixels. :class:`LatentTiTok` is that composition with any 2D tokenizer of this zoo:

    image --pixel.encode + pixel.quantizer--> latent grid (h, w, C)   (frozen)
          --latent.encode (TiTok over the grid as a C-channel "image")--> 1D latents
          --latent.quantizer--> 1D codes (flexible length when the TiTok is)
          --latent.decode--> latent grid estimate --pixel.decode--> image   (frozen)

Training is two-stage: the 1D stage is an ordinary TiTok trained with ``TokenizerModule`` on a
latent cache (:mod:`zoo.data.latents`) with a reconstruction loss on the latent grid, which on a
CPU costs a small transformer pass per item instead of a CNN over pixels; the two trained
stages are then joined with :meth:`LatentTiTok.from_stages`. Quality is bounded by the 2D
tokenizer's own reconstruction: at full length the 1D codes carry as many bits as the grid's.

Layouts: images ``(B, 3, H, W)`` in ``[-1, 1]`` at ``image_size``; latents ``(B, k, token_dim)``;
codes ``(B, k, num_codebooks)`` (those of the 1D stage).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from zoo.quantizers import Quantizer
from zoo.registry import PretrainedCfg, create_tokenizer, register_pretrained, register_tokenizer
from zoo.tokenizers.base import Tokenizer
from zoo.tokenizers.image.base import ImageTokenizer
from zoo.tokenizers.image.titok import TiTok, _create_titok

__all__ = ["LatentTiTok", "quantized_grid"]


def quantized_grid(pixel: Tokenizer, x: Tensor) -> Tensor:
    """The quantized latents ``(B, h, w, C)`` that 2D tokenizer ``pixel`` gives its own decoder
    for images ``x``: what a LatentTiTok's 1D stage encodes and reproduces, and what a latent
    cache (:mod:`zoo.data.latents`) stores."""
    return pixel.quantizer(pixel.encode(x)).quantized


class LatentTiTok(ImageTokenizer):
    """TiTok over a frozen 2D tokenizer's quantized latent grid (see the module docstring).

    Args:
        pixel_tokenizer, pixel_tokenizer_args: registry name and overrides of the frozen 2D
            tokenizer (its weights come with this model's; it never trains here).
        latent_tokenizer, latent_tokenizer_args: registry name and overrides of the 1D stage, a
            :class:`~zoo.tokenizers.image.titok.TiTok` whose ``image_size`` is the latent grid
            side and whose ``in_channels`` is the 2D tokenizer's ``token_dim``.
        image_size: side of the square input images; ``image_size / pixel downsampling`` must be
            the 1D stage's ``image_size``.
        train_pixel_decoder: let the 2D tokenizer's decoder (``post_quant_conv`` and
            ``decoder``: everything ``pixel.decode`` runs) train with the 1D stage, so it adapts
            to the grids the 1D stage produces (decoder fine-tuning in pixels). Its encoder and
            quantizer stay frozen, so the grid the 1D stage encodes does not move. The 2D
            tokenizer's own registered weights are not touched: this model keeps its copy.
    """

    def __init__(
        self,
        *,
        pixel_tokenizer: str = "vqgan_cpu_f8",
        pixel_tokenizer_args: dict[str, Any] | None = None,
        latent_tokenizer: str = "titok_cpu_latent16",
        latent_tokenizer_args: dict[str, Any] | None = None,
        image_size: int = 128,
        train_pixel_decoder: bool = False,
    ) -> None:
        super().__init__()
        self.pixel = create_tokenizer(pixel_tokenizer, **(pixel_tokenizer_args or {}))
        self.latent = create_tokenizer(latent_tokenizer, **(latent_tokenizer_args or {}))
        if not isinstance(self.latent, TiTok):
            raise TypeError(
                f"LatentTiTok: latent_tokenizer must be a TiTok variant, got {latent_tokenizer!r}"
            )
        grid = self.pixel.token_shape() if hasattr(self.pixel, "token_dim") else ()
        if len(grid) != 2:
            raise TypeError(
                f"LatentTiTok: pixel_tokenizer must be a 2D (latent grid) tokenizer, got "
                f"{pixel_tokenizer!r}"
            )
        dim = self.pixel.token_dim
        if self.latent.in_channels != dim:
            raise ValueError(
                f"LatentTiTok: the 1D stage reads {self.latent.in_channels}-channel grids but "
                f"{pixel_tokenizer!r} has token_dim={dim}; set in_channels={dim}"
            )
        factor = self.pixel.input_multiple
        factor = factor if isinstance(factor, int) else factor[0]
        if image_size != self.latent.image_size * factor:
            raise ValueError(
                f"LatentTiTok: image_size={image_size} gives a {image_size // factor} px latent "
                f"grid under {pixel_tokenizer!r} (/{factor}), but the 1D stage is built for "
                f"{self.latent.image_size}; use image_size={self.latent.image_size * factor}"
            )
        self.pixel.requires_grad_(False)
        self.train_pixel_decoder = bool(train_pixel_decoder)
        if self.train_pixel_decoder:
            if not hasattr(self.pixel, "decoder"):
                raise TypeError(
                    f"LatentTiTok: train_pixel_decoder needs a 2D tokenizer with a `decoder` "
                    f"module; {pixel_tokenizer!r} has none"
                )
            for part in self._pixel_decoder_parts():
                part.requires_grad_(True)
        self.image_size = image_size
        self.input_size = (image_size, image_size)
        self.input_multiple = factor
        self.num_tokens = self.latent.num_tokens
        self.token_dim = self.latent.token_dim
        self.flexible_length = self.latent.flexible_length

    # The 1D stage's quantizer is this model's (a property, so the state dict holds it once).
    @property
    def quantizer(self) -> Quantizer:  # type: ignore[override]
        return self.latent.quantizer

    def _pixel_decoder_parts(self) -> list[nn.Module]:
        names = ("post_quant_conv", "decoder")
        return [getattr(self.pixel, n) for n in names if hasattr(self.pixel, n)]

    def train(self, mode: bool = True) -> LatentTiTok:
        super().train(mode)
        self.pixel.eval()  # frozen: always in inference behaviour
        if self.train_pixel_decoder:
            for part in self._pixel_decoder_parts():
                part.train(mode)
        return self

    def latent_grid(self, x: Tensor) -> Tensor:
        """The frozen 2D tokenizer's quantized latents of images ``x``, as a ``(B, C, h, w)``
        map (what the 1D stage encodes and learns to reproduce). The 2D tokenizer's weights are
        frozen (``requires_grad=False``), so autograd records this only when ``x`` itself
        requires gradients (then they reach ``x`` straight through the quantizer)."""
        return quantized_grid(self.pixel, x).permute(0, 3, 1, 2).contiguous()

    def encode(self, x: Tensor, num_tokens: int | None = None) -> Tensor:
        """1D latents ``(B, k, token_dim)`` of images ``(B, 3, H, W)`` in ``[-1, 1]``."""
        return self.latent.encode(self.latent_grid(x), num_tokens=num_tokens)

    def decode(self, quantized: Tensor, num_tokens: int | None = None) -> Tensor:
        """Images ``(B, 3, H, W)``, roughly in ``[-1, 1]``, from quantized 1D latents
        ``(B, k, token_dim)`` (any prefix of a flexible-length model)."""
        grid = self.latent.decode(quantized, num_tokens=num_tokens)
        return self.pixel.decode(grid.permute(0, 2, 3, 1))

    def sample_num_tokens(self) -> int:
        return self.latent.sample_num_tokens()

    @classmethod
    def from_stages(
        cls,
        name: str,
        pixel: Tokenizer,
        latent: Tokenizer,
    ) -> LatentTiTok:
        """The registered ``name`` (a LatentTiTok variant) with the weights of a trained 2D
        tokenizer and a trained 1D stage (strict: both must match the variant's architecture)."""
        tok = create_tokenizer(name)
        if not isinstance(tok, cls):
            raise TypeError(f"LatentTiTok.from_stages: {name!r} is not a LatentTiTok variant")
        tok.pixel.load_state_dict(pixel.state_dict())
        tok.latent.load_state_dict(latent.state_dict())
        return tok.eval()


@register_tokenizer
def titok_cpu_latent16(**kwargs: Any) -> TiTok:
    """The 1D stage of ``titok_cpu_latent128``: a TiTok over the 16 x 16 x 6 FSQ latent grid of
    ``vqgan_cpu_f8`` at 128 px (patch 2: 64 grid patches), encoder width 112 x 4 blocks, decoder
    160 x 5, 64 tokens of 4 FSQ codes [8, 8, 8, 5, 5, 5] each (~64 bits per token: the grid's
    4096 bits at full length, 0.25 bpp at 128 px), nested dropout over {1, 2, 4, ..., 64} tokens
    (all 64 kept in half the steps), pyramid latent init. Trained on latent caches
    (:mod:`zoo.data.latents`), reconstruction loss on the grid."""
    args = dict(
        image_size=16, patch_size=2, in_channels=6, num_latent_tokens=64, encoder_width=112,
        encoder_depth=4, encoder_heads=4, decoder_width=160, decoder_depth=5, decoder_heads=4,
        mlp_ratio=3.0, token_dim=24, quantizer="grouped",
        quantizer_kwargs={"quantizer": "fsq", "groups": 4,
                          "quantizer_kwargs": {"levels": [8, 8, 8, 5, 5, 5]}},
        token_drop="nested", token_count_dist="pow2", keep_all_prob=0.5, latent_init="pyramid",
    )  # fmt: skip
    return _create_titok("titok_cpu_latent16", **dict(args, **kwargs))


@register_tokenizer
def titok_cpu_latent128(**kwargs: Any) -> LatentTiTok:
    """The flagship flexible-length 1D tokenizer at 128 px: ``titok_cpu_latent16`` (64 tokens,
    ~64 bits each, any prefix decodes) over the frozen ``vqgan_cpu_f8`` (16 x 16 FSQ grid),
    decoded through the VQGAN's decoder. 0.004 bpp at 1 token, 0.25 bpp at 64."""
    args: dict[str, Any] = dict(
        pixel_tokenizer="vqgan_cpu_f8", latent_tokenizer="titok_cpu_latent16", image_size=128
    )
    return LatentTiTok(**dict(args, **kwargs))


@register_tokenizer
def titok_latent_test(**kwargs: Any) -> LatentTiTok:
    """Tiny LatentTiTok for tests: a TiTok with 4 tokens over ``vqgan_test``'s 8 x 8 x 3 grid at
    32 px (nested dropout)."""
    latent = dict(
        image_size=8, patch_size=2, in_channels=3, num_latent_tokens=4, encoder_width=32,
        encoder_depth=1, encoder_heads=2, decoder_width=32, decoder_depth=1, decoder_heads=2,
        mlp_ratio=2.0, token_dim=4, quantizer="fsq", quantizer_kwargs={"levels": [8, 5, 5, 5]},
        token_drop="nested", token_count_dist="pow2",
    )  # fmt: skip
    args: dict[str, Any] = dict(
        pixel_tokenizer="vqgan_test", latent_tokenizer="titok_test",
        latent_tokenizer_args=latent, image_size=32,
    )  # fmt: skip
    return LatentTiTok(**dict(args, **kwargs))


# Weights trained by this project and shipped as package data (zoo/weights/<name>/, float16).
register_pretrained(
    "titok_cpu_latent128.photos",
    PretrainedCfg(
        package_weights="titok_cpu_latent128.photos",
        license="apache-2.0",
        training_data=(
            "The 1D stage: the vqgan_cpu_f8.photos latent grids of 30,000 multi-scale 128 px crops "
            "of 55 real photographs from Debian packages (mate-backgrounds, "
            "plasma-workspace-wallpapers: GPL-2+; lxqt-themes: LGPL-2.1+; "
            "lomiri-wallpapers-16.04 / 20.04: CC-BY(-SA) / CC0; palapeli-data: public domain / "
            "GFDL); built by `python -m zoo.data.photos` and `python -m zoo.data.latents`. The 2D "
            "stage is vqgan_cpu_f8.photos; stage 3 fine-tuned this model's copy of its decoder "
            "on the same crops."
        ),
        resolution=128,
        notes=(
            "CPU-scale flagship, TiTok's two-stage design: configs/image/titok_cpu_latent128.yaml "
            "trains the 1D stage (titok_cpu_latent16, L2 on the 16 x 16 x 6 FSQ grid, nested "
            "dropout over 1-64 tokens, 7500 steps) with vqgan_cpu_f8.photos frozen; joined by "
            "`python -m zoo.training.export --join titok_cpu_latent128`; then "
            "configs/image/titok_cpu_latent128_pixels.yaml fine-tunes the 1D stage with L1 in "
            "pixels through the frozen VQGAN (1000 steps x 8 crops), and "
            "configs/image/titok_cpu_latent128_decoder.yaml fine-tunes it together with this "
            "model's copy of the VQGAN decoder (train_pixel_decoder; VQGAN encoder and "
            "quantizer frozen, so the latent grid does not move; 2500 steps x 8 crops). EMA "
            "weights. 1 token = "
            "64 bits (0.0039 bpp at 128 px) to 64 tokens = 0.25 bpp. Validated on the bundled "
            "scikit-image / matplotlib photos; results/titok_cpu_latent128.photos.md and "
            "results/rd_titok_cpu_latent128.photos.md."
        ),
    ),
)
