"""WavTokenizer: one large codebook at a low token rate, decoded by a Vocos-style backbone.

- Ji et al., "WavTokenizer: an Efficient Acoustic Discrete Codec Tokenizer for Audio Language
  Modeling", ICLR 2025 (arXiv:2408.16532): a non-causal SEANet encoder (EnCodec's, 512-d latents)
  and ONE vector quantizer of 4096 codes at 40 or 75 tokens/s (0.48 / 0.9 kbps at 24 kHz); the
  decoder adds attention (two ResNet blocks, single-head self-attention, two ResNet blocks) in
  front of a Vocos backbone.
- Siuzdak, "Vocos: Closing the gap between time-domain and Fourier-based neural vocoders for
  high-quality audio synthesis", ICLR 2024 (arXiv:2306.00814): ConvNeXt blocks at the frame rate
  (no upsampling) and an inverse-STFT head that predicts log-magnitude and phase per frame.

Decoder, on ``(B, frames, dimension)`` latents: ``embed`` (conv k=7) to ``decoder_dim`` ->
optional ``pos_net`` (ResNet, ResNet, attention, ResNet, ResNet, GroupNorm; channels first) ->
LayerNorm -> ``decoder_layers`` ConvNeXt blocks (depthwise conv k=7, LayerNorm, MLP, layer
scale, residual) -> LayerNorm -> ``head``: linear to ``n_fft + 2`` channels = log-magnitude and
phase of ``n_fft // 2 + 1`` bins -> ``exp`` (clipped at 100) -> complex spectrum -> inverse STFT
with a Hann window of ``n_fft``, hop ``hop_length`` and "same" padding (``(n_fft - hop) / 2`` cut
at both ends, overlap-add normalised by the window envelope): exactly ``frames * hop_length``
samples.

Layouts: audio ``(B, 1, samples)`` in ``[-1, 1]``; latents ``(B, frames, dimension)``; codes
``(B, frames, 1)`` int64 in ``[0, 4096)``. Not streaming (the decoder attends over the clip).

Converters: :func:`convert_vocos_state_dict` (a ``vocos`` package ``VocosBackbone`` +
``ISTFTHead``, including its AdaLayerNorm conditioning, folded at one bandwidth id) and
:func:`convert_wavtokenizer_checkpoint` (the authors' Lightning checkpoints).
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from zoo.layers import ConvAttention, ResnetBlock, create_norm, prepacked
from zoo.registry import PretrainedCfg, register_tokenizer
from zoo.tokenizers.audio.base import AudioTokenizer
from zoo.tokenizers.audio.seanet_codec import ENCODEC_VQ, SEANetEncoder, convert_encodec_state_dict
from zoo.tokenizers.base import build_quantizer


def _trunc_normal_init(module: nn.Module) -> None:
    # Vocos initialisation: small truncated-normal conv/linear weights, zero biases.
    if isinstance(module, (nn.Conv1d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class ConvNeXtBlock1d(nn.Module):
    """``x + gamma * mlp(layernorm(dwconv7(x)))`` on ``(B, dim, T)`` (ConvNeXt, Liu et al.,
    CVPR 2022, in 1D as in Vocos). ``gamma`` is the per-channel layer scale (None: no scale)."""

    def __init__(self, *, dim: int, intermediate_dim: int, layer_scale_init: float | None) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = (
            nn.Parameter(torch.full((dim,), float(layer_scale_init)))
            if layer_scale_init is not None and layer_scale_init > 0
            else None
        )

    def forward(self, x: Tensor) -> Tensor:
        if prepacked.applies(self, x, self.dwconv.weight):
            return self._inference(x)
        h = self.dwconv(x).transpose(1, 2)  # channels last for LayerNorm and the MLP
        h = self.pwconv2(self.act(self.pwconv1(self.norm(h))))
        if self.gamma is not None:
            h = self.gamma * h
        return x + h.transpose(1, 2)

    def _inference(self, x: Tensor) -> Tensor:
        """The same block with oneDNN-packed weights (:mod:`zoo.layers.prepacked`), GELU fused
        into the first product and ``gamma`` folded into the second; the depthwise conv returns
        channels-last, so ``(B, T, C)`` is a free view for LayerNorm and the MLP and the
        ``(B, C, T)`` result is one too (the next block reads it without a re-order)."""
        dw = self.dwconv
        h = prepacked.conv1d(dw, x, dw.weight, dw.bias, 1, 3, 1, dw.groups).transpose(1, 2)
        h = self.norm(h)
        h = prepacked.linear(self.pwconv1, h, self.pwconv1.weight, self.pwconv1.bias, gelu=True)
        h = prepacked.linear(
            self.pwconv2, h, self.pwconv2.weight, self.pwconv2.bias, scale=self.gamma
        )
        return h.add_(x.transpose(1, 2)).transpose(1, 2)


class VocosBackbone1d(nn.Module):
    """Frame-rate decoder trunk: ``(B, in_channels, T) -> (B, T, dim)`` (see module docstring).

    Args:
        in_channels: latent width; dim: model width; intermediate_dim: ConvNeXt MLP width;
        num_layers: ConvNeXt blocks; layer_scale_init: initial layer scale (None: ``1 /
        num_layers``, Vocos' default); attention: add WavTokenizer's ``pos_net`` (ResNet and
        self-attention blocks with GroupNorm) after ``embed``; dropout: in its ResNet blocks.
    """

    def __init__(
        self,
        *,
        in_channels: int,
        dim: int,
        intermediate_dim: int,
        num_layers: int,
        layer_scale_init: float | None = None,
        attention: bool = True,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.embed = nn.Conv1d(in_channels, dim, kernel_size=7, padding=3)
        scale = 1.0 / num_layers if layer_scale_init is None else layer_scale_init
        self.pos_net = None
        if attention:

            def res() -> nn.Module:
                return ResnetBlock(in_channels=dim, dims=1, act="silu", dropout=dropout)

            self.pos_net = nn.Sequential(
                res(),
                res(),
                ConvAttention(channels=dim, dims=1),
                res(),
                res(),
                create_norm("groupnorm", dim),
            )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.convnext = nn.ModuleList(
            ConvNeXtBlock1d(dim=dim, intermediate_dim=intermediate_dim, layer_scale_init=scale)
            for _ in range(num_layers)
        )
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)
        self.apply(_trunc_normal_init)

    def forward(self, x: Tensor) -> Tensor:
        e = self.embed
        x = prepacked.conv1d(e, x, e.weight, e.bias, 1, 3, 1, 1)  # F.conv1d when training
        if self.pos_net is not None:
            x = self.pos_net(x)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x.transpose(1, 2))


class ISTFTHead(nn.Module):
    """``(B, T, dim)`` features -> audio ``(B, T * hop_length)`` through an inverse STFT.

    A linear layer predicts ``n_fft // 2 + 1`` log-magnitudes and as many phases per frame; the
    complex spectrum ``exp(m) * e^{i p}`` (magnitude clipped at 100 so an untrained head cannot
    overflow) is inverted with a Hann window of ``n_fft`` samples, hop ``hop_length`` and "same"
    padding (torch.istft's ``center`` padding fails its window-overlap check at the edges).
    """

    def __init__(self, *, dim: int, n_fft: int, hop_length: int) -> None:
        super().__init__()
        if n_fft < hop_length or (n_fft - hop_length) % 2:
            raise ValueError(
                f"ISTFTHead: n_fft ({n_fft}) must be >= hop_length ({hop_length}) and differ from "
                "it by an even number for 'same' padding"
            )
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.out = nn.Linear(dim, n_fft + 2)
        # A constant of the transform, not a weight: not saved.
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        out = prepacked.linear(self.out, x, self.out.weight, self.out.bias)
        log_mag, phase = out.transpose(1, 2).float().chunk(2, dim=1)
        mag = log_mag.exp().clamp(max=1e2)
        spec = torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))
        return self.istft(spec)

    def istft(self, spec: Tensor) -> Tensor:
        """Inverse STFT of ``(B, n_fft // 2 + 1, T)`` complex frames -> ``(B, T * hop)``."""
        b, _, t = spec.shape
        frames = torch.fft.irfft(spec, self.n_fft, dim=1) * self.window[:, None]
        total = (t - 1) * self.hop_length + self.n_fft
        fold = dict(
            output_size=(1, total), kernel_size=(1, self.n_fft), stride=(1, self.hop_length)
        )
        y = F.fold(frames, **fold)[:, 0, 0]  # overlap-add
        envelope = F.fold(self.window.square()[None, :, None].expand(1, -1, t), **fold)[0, 0, 0]
        pad = (self.n_fft - self.hop_length) // 2
        y, envelope = y[:, pad : total - pad], envelope[pad : total - pad]
        # The Hann envelope with hop <= n_fft/2 is > 0 inside the cut region; guard the general
        # case anyway so an odd configuration gives zeros, not infinities.
        return y / envelope.clamp_min(1e-11)


class VocosDecoder(nn.Module):
    """Latents ``(B, in_channels, T)`` -> audio ``(B, 1, T * hop_length)``: backbone + head."""

    def __init__(self, *, hop_length: int, n_fft: int, **backbone: Any) -> None:
        super().__init__()
        self.backbone = VocosBackbone1d(**backbone)
        self.head = ISTFTHead(dim=backbone["dim"], n_fft=n_fft, hop_length=hop_length)

    def forward(self, z: Tensor) -> Tensor:
        return self.head(self.backbone(z))[:, None]


class WavTokenizer(AudioTokenizer):
    """SEANet encoder -> one codebook -> Vocos decoder with attention (see module docstring).

    Defaults are WavTokenizer's 24 kHz, 75 tokens/s configuration.

    Args:
        sample_rate: audio rate in Hz (mono only).
        strides: encoder strides in order (75 Hz: 2-4-5-8; 40 Hz: 4-5-5-6); hop = product.
        encoder_filters, lstm_layers, causal, pad_mode: of the SEANet encoder (ELU, weight norm,
            residual kernel 3, one residual unit per scale; see
            :class:`~zoo.tokenizers.audio.seanet_codec.SEANetEncoder`).
        dimension: latent and codebook width.
        quantizer, quantizer_kwargs: the quantizer (``dim`` is set to ``dimension``);
            ``quantizer_kwargs=None`` with ``"vq"`` is WavTokenizer's: 4096 codes, EMA 0.99, k-means
            init (200 iterations), dead-code restart.
        decoder_dim, decoder_intermediate_dim, decoder_layers: Vocos backbone sizes.
        layer_scale_init: initial ConvNeXt layer scale (None: ``1 / decoder_layers``).
        attention: WavTokenizer's attention ``pos_net`` in the decoder (False: plain Vocos).
        dropout: of the attention block's ResNet blocks.
        n_fft: inverse-STFT size (WavTokenizer: 4 hops).
    """

    def __init__(
        self,
        *,
        sample_rate: int = 24000,
        strides: list[int] | None = None,
        encoder_filters: int = 32,
        lstm_layers: int = 2,
        causal: bool = False,
        pad_mode: str = "reflect",
        dimension: int = 512,
        quantizer: str = "vq",
        quantizer_kwargs: dict[str, Any] | None = None,
        decoder_dim: int = 768,
        decoder_intermediate_dim: int = 2304,
        decoder_layers: int = 12,
        layer_scale_init: float | None = None,
        attention: bool = True,
        dropout: float = 0.1,
        n_fft: int = 1280,
    ) -> None:
        super().__init__()
        strides = [2, 4, 5, 8] if strides is None else [int(s) for s in strides]
        if not strides or min(strides) < 1:
            raise ValueError(f"WavTokenizer: strides must be positive ints, got {strides}")
        self._init_audio(sample_rate=sample_rate, channels=1, hop_length=math.prod(strides))
        self.dimension = dimension
        self.causal = False  # the decoder attends over the whole clip
        self.encoder = SEANetEncoder(
            channels=1,
            dimension=dimension,
            filters=encoder_filters,
            strides=strides,
            lstm_layers=lstm_layers,
            causal=causal,
            pad_mode=pad_mode,
        )
        if quantizer_kwargs is None and quantizer == "vq":
            quantizer_kwargs = dict(ENCODEC_VQ, codebook_size=4096, kmeans_iters=200)
        self.quantizer = build_quantizer(
            quantizer, quantizer_kwargs, dimension, "WavTokenizer", dim_name="dimension"
        )
        self.decoder = VocosDecoder(
            hop_length=self.hop_length,
            n_fft=n_fft,
            in_channels=dimension,
            dim=decoder_dim,
            intermediate_dim=decoder_intermediate_dim,
            num_layers=decoder_layers,
            layer_scale_init=layer_scale_init,
            attention=attention,
            dropout=dropout,
        )

    @property
    def last_layer(self) -> nn.Parameter:
        """The head's output projection (for the adaptive adversarial loss weight)."""
        return self.decoder.head.out.weight

    def encode(self, x: Tensor) -> Tensor:
        """Latents ``(B, ceil(samples / hop_length), dimension)`` of audio ``(B, 1, samples)``."""
        return self.encoder(x).transpose(1, 2)

    def decode(self, quantized: Tensor, num_tokens: int | None = None) -> Tensor:
        """Audio ``(B, 1, frames * hop_length)`` from latents ``(B, frames, dimension)``."""
        if quantized.ndim != 3 or quantized.shape[-1] != self.dimension:
            raise ValueError(
                f"{self._label}: decode expects quantized latents (B, frames, {self.dimension}), "
                f"got {tuple(quantized.shape)}"
            )
        return self.decoder(quantized.transpose(1, 2))


# ---------------------------------------------------------------------- converters
def _fold_adanorm(sd: dict[str, Tensor], prefix: str, bandwidth_id: int) -> dict[str, Tensor]:
    """Replace AdaLayerNorm tables (``<p>.scale.weight`` / ``<p>.shift.weight``, one row per
    bandwidth id) by the LayerNorm affine of one id: ``LN(x) * scale[id] + shift[id]``."""
    out = {}
    for key, value in sd.items():
        m = re.fullmatch(rf"{re.escape(prefix)}(.*)\.(scale|shift)\.weight", key)
        if m:
            out[f"{prefix}{m.group(1)}.{'weight' if m.group(2) == 'scale' else 'bias'}"] = value[
                bandwidth_id
            ]
        else:
            out[key] = value
    return out


def convert_vocos_state_dict(
    backbone: dict[str, Tensor],
    head: dict[str, Tensor],
    tok: WavTokenizer,
    *,
    bandwidth_id: int = 0,
) -> dict[str, Tensor]:
    """``decoder.*`` entries of ``tok`` from a ``vocos`` ``VocosBackbone`` and ``ISTFTHead``
    state dict (WavTokenizer's decoder has the same names, plus ``pos_net``).

    AdaLayerNorm conditioning (``adanorm_num_embeddings``) is folded at ``bandwidth_id`` (what
    WavTokenizer uses at inference: 0). The head's window is a constant and is dropped.
    """
    out = {f"decoder.backbone.{k}": v for k, v in _fold_adanorm(backbone, "", bandwidth_id).items()}
    out.update({f"decoder.head.{k}": v for k, v in head.items() if k != "istft.window"})
    ours = {k: v for k, v in tok.state_dict().items() if k.startswith("decoder.")}
    missing, extra = sorted(set(ours) - set(out)), sorted(set(out) - set(ours))
    if missing or extra:
        raise ValueError(
            f"convert_vocos_state_dict: the Vocos weights do not match this decoder: model keys "
            f"not filled {missing[:5]}, keys the model lacks {extra[:5]} (was attention= or "
            "decoder_layers= set as in the checkpoint?)"
        )
    bad = [k for k in out if out[k].shape != ours[k].shape]
    if bad:
        raise ValueError(
            f"convert_vocos_state_dict: shape mismatch for {bad[0]}: checkpoint "
            f"{tuple(out[bad[0]].shape)}, model {tuple(ours[bad[0]].shape)}"
        )
    return out


def convert_wavtokenizer_state_dict(
    state_dict: dict[str, Tensor], tok: WavTokenizer, *, bandwidth_id: int = 0
) -> dict[str, Tensor]:
    """Our state dict from the authors' WavTokenizer weights (``feature_extractor.encodec.*``,
    ``backbone.*``, ``head.*``; the unused EnCodec decoder inside ``feature_extractor`` is
    dropped)."""
    fe, codebook, backbone, head = {}, {}, {}, {}
    for key, value in state_dict.items():
        if key.startswith("feature_extractor.encodec.encoder."):
            fe[key.removeprefix("feature_extractor.encodec.")] = value
        elif m := re.fullmatch(r"feature_extractor\.encodec\.quantizer\.vq\.layers\.0\.(.+)", key):
            codebook[m.group(1)] = value
        elif key.startswith("backbone."):
            backbone[key.removeprefix("backbone.")] = value
        elif key.startswith("head."):
            head[key.removeprefix("head.")] = value
    out = _convert_encoder(fe, tok)
    out.update(_convert_single_codebook(codebook, tok))
    out.update(convert_vocos_state_dict(backbone, head, tok, bandwidth_id=bandwidth_id))
    return out


def _convert_encoder(sd: dict[str, Tensor], tok: WavTokenizer) -> dict[str, Tensor]:
    # The encoder is EnCodec's SEANet: reuse that converter on a view holding only it.
    return convert_encodec_state_dict(sd, _EncoderOnly(tok))  # type: ignore[arg-type]


class _EncoderOnly(nn.Module):
    """What :func:`convert_encodec_state_dict` needs to see of a WavTokenizer: its encoder."""

    def __init__(self, tok: WavTokenizer) -> None:
        super().__init__()
        self.encoder = tok.encoder


def _convert_single_codebook(sd: dict[str, Tensor], tok: WavTokenizer) -> dict[str, Tensor]:
    names = {
        "_codebook.embed": "codebook",
        "_codebook.embed_avg": "embed_sum",
        "_codebook.cluster_size": "cluster_size",
    }
    want = {k for k in tok.state_dict() if k.startswith("quantizer.")}
    # EMA running sums only exist in an EMA quantizer; a learned codebook takes the codewords.
    out = {f"quantizer.{names[k]}": v for k, v in sd.items() if f"quantizer.{names.get(k)}" in want}
    if "_codebook.inited" in sd and "quantizer.initted" in want:
        out["quantizer.initted"] = torch.tensor(bool(sd["_codebook.inited"].flatten()[0]))
    if set(out) != want:
        raise ValueError(
            f"convert_wavtokenizer_state_dict: codebook keys {sorted(out)} do not fill the "
            f"quantizer's {sorted(want)}"
        )
    return out


def convert_wavtokenizer_checkpoint(path: str, tok: WavTokenizer) -> dict[str, Tensor]:
    """Converter for :class:`~zoo.registry.PretrainedCfg`: the authors' ``.ckpt`` (a Lightning
    checkpoint with ``state_dict``, or the bare state dict)."""
    sd = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    return convert_wavtokenizer_state_dict(sd, tok)


def _create(variant: str, **kwargs: Any) -> WavTokenizer:
    try:
        return WavTokenizer(**kwargs)
    except TypeError as err:
        raise TypeError(f"{variant}: {err}") from err


# ---------------------------------------------------------------------- variants
@register_tokenizer
def wavtokenizer_test(**kwargs: Any) -> WavTokenizer:
    """Tiny WavTokenizer for tests: 8 kHz, strides (2, 4) (hop 8), 8-d latents, one codebook of
    64 codes, decoder width 64 with attention (GroupNorm needs >= 2 channels per group, or a
    one-frame clip has one value per group), two ConvNeXt blocks, n_fft 32."""
    args = dict(
        sample_rate=8000,
        strides=[2, 4],
        encoder_filters=4,
        lstm_layers=1,
        dimension=8,
        quantizer="vq",
        quantizer_kwargs={"codebook_size": 64},
        decoder_dim=64,
        decoder_intermediate_dim=64,
        decoder_layers=2,
        n_fft=32,
    )
    return _create("wavtokenizer_test", **dict(args, **kwargs))


_PAPER = "Ji et al., WavTokenizer, ICLR 2025, arXiv:2408.16532"


@register_tokenizer(
    pretrained_cfgs={
        "speech_large": PretrainedCfg(
            hub_id="novateur/WavTokenizer-large-speech-75token",
            filename="wavtokenizer_large_speech_320_v2.ckpt",
            converter="convert_wavtokenizer_checkpoint",
            license="MIT",
            paper=_PAPER,
            training_data="speech (LibriTTS, VCTK, CommonVoice, ...), per the authors",
            sample_rate=24000,
            notes="authors' Lightning checkpoint (1.75 GB with training state), converted on "
            "load; AdaLayerNorm folded at bandwidth id 0",
        ),
    }
)
def wavtokenizer_75hz(**kwargs: Any) -> WavTokenizer:
    """WavTokenizer 24 kHz, 75 tokens/s (hop 320), 1 x 4096 codes (0.9 kbps); decoder 768-d,
    12 ConvNeXt blocks, attention, inverse STFT with n_fft 1280."""
    return _create("wavtokenizer_75hz", **kwargs)


@register_tokenizer
def wavtokenizer_40hz(**kwargs: Any) -> WavTokenizer:
    """WavTokenizer 24 kHz, 40 tokens/s (strides 4-5-5-6, hop 600), 1 x 4096 codes
    (0.48 kbps); inverse STFT with n_fft 2400."""
    args = dict(strides=[4, 5, 5, 6], n_fft=2400)
    return _create("wavtokenizer_40hz", **dict(args, **kwargs))
