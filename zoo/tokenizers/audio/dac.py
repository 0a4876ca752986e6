"""DAC, the Descript Audio Codec: a faithful port on the zoo's SEANet blocks and shared VQ.

Kumar, Seetharaman, Luebs, Kumar, Kumar, "High-Fidelity Audio Compression with Improved RVQGAN",
NeurIPS 2023 (arXiv:2306.06546); upstream code ``descriptinc/descript-audio-codec`` (MIT) and its
port ``transformers.DacModel``, which this module matches number for number (tests/tokenizers/
audio/test_dac.py: identical codes, decoded audio within 1e-4, random weights, real speech).

Architecture (mono, non-causal, zero padding, weight norm on every conv):

- encoder: ``conv7(1 -> encoder_dim)``; per stride ``s``: three residual units (dilations 1, 3, 9:
  ``x + conv1(snake(conv7_dilated(snake(x))))``, widths unchanged), Snake,
  ``conv(2s, stride=s, padding=ceil(s/2))`` doubling the width; then Snake and
  ``conv3(-> latent_dim)``;
- decoder: ``conv7(latent_dim -> decoder_dim)``; per stride in reverse order: Snake,
  ``conv_transpose(2s, stride=s, padding=ceil(s/2))`` halving the width, three residual units;
  then Snake, ``conv7(-> 1)``, tanh;
- Snake: ``x + sin(alpha x)^2 / (alpha + 1e-9)`` with a learned per-channel ``alpha``;
- quantizer: residual VQ, each level a weight-normed 1x1 projection ``latent_dim -> 8``, a nearest
  neighbour search by cosine similarity (both sides l2-normalised), the *raw* (un-normalised)
  codeword as output, and a weight-normed projection back (the shared library's
  ``vq`` with ``distance="cosine", raw_codeword=True, projection_norm="weight_norm"``).

Upstream behaviour kept on purpose (differences from the zoo's other SEANet codecs):

- the input is right-padded with zeros to a multiple of ``hop_length`` before the encoder
  (``DAC.preprocess``); with that, every strided conv sees whole windows and the zoo's EnCodec-style
  padding gives DAC's ``padding=ceil(s/2)`` windows exactly;
- the transposed convs have ``padding=ceil(s/2)`` on both sides and *no* ``output_padding``, so an
  odd stride ``s`` gives ``s * frames - 1`` samples (descript-audio-codec issue #37: the 16 kHz
  model decodes 320 frames-worth minus 8 samples; the fix, PR #78, was never merged and the released
  weights were trained without it). The zoo trims the same samples, so everything the upstream
  decoder outputs matches; ``decode`` then appends ``hop_length * frames - upstream_length``
  zeros (:attr:`DACCodec.decoder_shortfall`: 8 samples, 0.5 ms, for the 16 and 24 kHz models; 0 for
  44.1 kHz) so every zoo audio tokenizer returns ``frames * hop_length`` samples;
- codes: DAC's search computes ``||e||^2 - 2 e.c + ||c||^2`` on unit vectors, the zoo takes the
  argmax of ``e.c``; both pick the same codeword except within float rounding (~1e-7) of a tie.

Converters (:func:`convert_dac_state_dict`) read both upstream layouts, with weight norm as old
``weight_g``/``weight_v``, as ``parametrizations.weight.original0/1``, or removed (plain
``weight``; magnitude and direction are recomputed, exactly up to rounding):

- transformers ``DacModel`` (Hub ``descript/dac_{16,24,44}khz``, ``model.safetensors``):
  ``encoder.conv1``, ``encoder.block.{b}.res_unit{1,2,3}.{snake1,conv1,snake2,conv2}``,
  ``encoder.block.{b}.{snake1,conv1}``, ``encoder.{snake1,conv2}``; ``decoder.conv1``,
  ``decoder.block.{b}.{snake1,conv_t1,res_unit{1,2,3}.*}``, ``decoder.{snake1,conv2}``;
  ``quantizer.quantizers.{i}.{in_proj,out_proj,codebook}``;
- descript-audio-codec ``.pth`` (``{"state_dict": ..., "metadata": {"kwargs": ...}}``; layout of
  ``dac/model/dac.py``, nn.Sequential indices): ``encoder.block.0`` (first conv),
  ``encoder.block.{j}.block.{0,1,2}.block.{0..3}`` (residual units of stride ``j``, 1-based),
  ``encoder.block.{j}.block.{3,4}`` (Snake, strided conv), ``encoder.block.{n+1,n+2}`` (Snake,
  last conv); ``decoder.model.0``, ``decoder.model.{j}.block.{0,1}`` (Snake, transposed conv),
  ``decoder.model.{j}.block.{2,3,4}.block.{0..3}``, ``decoder.model.{n+1,n+2}``; the quantizer as
  in transformers.

Both map onto the zoo's flat SEANet sequence: element ``k`` of stride block ``j`` is layer
``5 (j - 1) + 1 + k`` of ``encoder.layers`` / ``decoder.layers``.

Layouts: audio ``(B, 1, samples)`` in ``[-1, 1]``; latents ``(B, frames, latent_dim)``; codes
``(B, frames, k)`` int64 (transformers' ``audio_codes`` is ``(B, k, frames)``).
"""

from __future__ import annotations

import re
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from zoo.layers.streaming import StreamableConvTranspose1d
from zoo.registry import PretrainedCfg, register_tokenizer
from zoo.tokenizers.audio.base import StreamState
from zoo.tokenizers.audio.seanet_codec import SEANetCodec

#: Residual units per stride block and their dilations (fixed in DAC).
DAC_DILATIONS = [1, 3, 9]


def dac_rvq(
    num_codebooks: int,
    *,
    codebook_size: int = 1024,
    codebook_dim: int = 8,
    quantizer_dropout: float = 0.5,
) -> dict[str, Any]:
    """``quantizer_kwargs`` of DAC's residual VQ (for ``quantizer="residual"``): learned
    codebooks (commitment weight 0.25, codebook loss weight 1), factorized ``codebook_dim``-d codes
    searched by cosine similarity, raw codewords decoded, weight-normed projections."""
    level = {
        "codebook_size": codebook_size,
        "codebook_dim": codebook_dim,
        "distance": "cosine",
        "raw_codeword": True,
        "projection_norm": "weight_norm",
        "commitment_weight": 0.25,
    }
    return {
        "num_quantizers": num_codebooks,
        "quantizer": "vq",
        "quantizer_kwargs": level,
        "quantizer_dropout": quantizer_dropout,
    }


class DACCodec(SEANetCodec):
    """DAC (see the module docstring): SEANet with Snake, dilated residual units, DAC's padding
    and trimming, and DAC's residual VQ. Defaults are the 44.1 kHz model (``dac_44khz``).

    Args (upstream ``DAC(...)`` names in brackets):
        sample_rate: audio rate in Hz [``sample_rate``].
        strides: encoder downsampling strides [``encoder_rates``]; the decoder uses them reversed
            [``decoder_rates``]; ``hop_length = prod(strides)``.
        encoder_dim: width after the first encoder conv, doubled at every stride
            [``encoder_dim``].
        decoder_dim: width after the first decoder conv, halved at every stride; must be divisible
            by ``2 ** len(strides)`` [``decoder_dim``].
        latent_dim: latent width, the quantizer's ``dim``; default
            ``encoder_dim * 2 ** len(strides)`` [``latent_dim``].
        quantizer, quantizer_kwargs: a registered quantizer and its arguments (``dim`` is filled
            in). ``quantizer_kwargs=None`` with ``"residual"`` is DAC's 9-level residual VQ
            (:func:`dac_rvq`); other quantizers train fine but cannot load DAC checkpoints.
    """

    supports_streaming = True

    def __init__(
        self,
        *,
        sample_rate: int = 44100,
        strides: list[int] | None = None,
        encoder_dim: int = 64,
        decoder_dim: int = 1536,
        latent_dim: int | None = None,
        quantizer: str = "residual",
        quantizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        strides = [2, 4, 8, 8] if strides is None else [int(s) for s in strides]
        n = len(strides)
        if decoder_dim % 2**n:
            raise ValueError(
                f"DACCodec: decoder_dim={decoder_dim} must be divisible by 2 ** len(strides) = "
                f"{2**n} (the decoder halves its width at each of the {n} strides)"
            )
        if latent_dim is None:
            latent_dim = encoder_dim * 2**n
        if quantizer_kwargs is None and quantizer == "residual":
            quantizer_kwargs = dac_rvq(9)
        super().__init__(
            sample_rate=sample_rate,
            channels=1,
            strides=strides,
            encoder_filters=encoder_dim,
            decoder_filters=decoder_dim // 2**n,
            dimension=latent_dim,
            kernel_size=7,
            latent_kernel_size=3,
            last_kernel_size=7,
            residual_kernel_size=7,
            dilations=DAC_DILATIONS,
            compress=1,
            true_skip=True,
            lstm_layers=0,
            activation="snake",
            final_activation="tanh",
            norm="weight_norm",
            causal=False,
            pad_mode="constant",
            quantizer=quantizer,
            quantizer_kwargs=quantizer_kwargs,
        )
        # DAC's ConvTranspose1d(padding=ceil(s/2)) drops ceil(s/2) samples at both ends; the zoo's
        # default drops floor(s/2) on the right (one sample more output for odd strides). Each
        # such layer then yields ``s * L - (s % 2)`` samples for ``L`` in.
        shortfall = 0
        for layer in self.decoder.layers:
            if isinstance(layer, StreamableConvTranspose1d):
                layer.trim_right = layer.trim_left
                missing = layer.stride - layer.kernel + layer.trim_left + layer.trim_right
                shortfall = shortfall * layer.stride + missing
        #: Samples per clip that the upstream decoder does not produce (zeros here).
        self.decoder_shortfall = shortfall

    # ------------------------------------------------------------------ hooks
    def encode(self, x: Tensor) -> Tensor:
        """Latents ``(B, ceil(samples / hop_length), latent_dim)`` of audio ``(B, 1, samples)``,
        zero-padded on the right to whole frames first (as upstream ``DAC.preprocess``)."""
        return super().encode(F.pad(x, (0, -x.shape[-1] % self.hop_length)))

    def decode(self, quantized: Tensor, num_tokens: int | None = None) -> Tensor:
        """Audio ``(B, 1, frames * hop_length)``: the upstream decoder's output plus
        :attr:`decoder_shortfall` zeros at the end."""
        return F.pad(super().decode(quantized), (0, self.decoder_shortfall))

    def _encode_chunk(self, x: Tensor, state: StreamState, final: bool) -> Tensor:
        if final:  # state.samples already counts x
            x = F.pad(x, (0, -state.samples % self.hop_length))
        return super()._encode_chunk(x, state, final)

    def _decode_chunk(self, quantized: Tensor, state: StreamState, final: bool) -> Tensor:
        y = super()._decode_chunk(quantized, state, final)
        return F.pad(y, (0, self.decoder_shortfall)) if final else y


# ---------------------------------------------------------------------- converters
_RES_UNIT = {"snake1": 0, "conv1": 1, "snake2": 2, "conv2": 3}
_WEIGHT_NORM = {
    "weight_g": "g",
    "weight_v": "v",
    "parametrizations.weight.original0": "g",
    "parametrizations.weight.original1": "v",
    "weight": "w",
    "bias": "bias",
    "alpha": "alpha",
}


def _flat(j: int, k: int) -> int:
    """Index in the zoo's flat layer list of element ``k`` of stride block ``j`` (1-based)."""
    return 5 * (j - 1) + 1 + k


def _dac_module(name: str, num_strides: int) -> str | None:
    """Our module path for an upstream DAC module path (either layout), or None if unknown."""
    n = num_strides
    last = {"snake1": _flat(n + 1, 0), "conv2": _flat(n + 1, 1)}  # after the stride blocks
    if m := re.fullmatch(r"quantizer\.quantizers\.(\d+)\.(in_proj|out_proj|codebook)", name):
        level, part = m.groups()
        sub = {"in_proj": ".project_in", "out_proj": ".project_out", "codebook": ""}[part]
        return f"quantizer.levels.{level}{sub}"
    # transformers DacModel
    if m := re.fullmatch(r"(encoder|decoder)\.(conv1|snake1|conv2)", name):
        side, part = m.groups()
        return f"{side}.layers.{last.get(part, 0)}"
    block = r"(encoder|decoder)\.block\.(\d+)\.(res_unit[123]|snake1|conv1|conv_t1)(?:\.(\w+))?"
    if m := re.fullmatch(block, name):
        side, b, part, inner = m.groups()
        j = int(b) + 1
        if j > n:
            return None
        if inner is None:
            own = {"encoder": {"snake1": 3, "conv1": 4}, "decoder": {"snake1": 0, "conv_t1": 1}}
            k = own[side].get(part)
            return None if k is None else f"{side}.layers.{_flat(j, k)}"
        units = {f"res_unit{r}": r - 1 if side == "encoder" else r + 1 for r in (1, 2, 3)}
        if part not in units or inner not in _RES_UNIT:
            return None
        return f"{side}.layers.{_flat(j, units[part])}.block.{_RES_UNIT[inner]}"
    # descript-audio-codec (nn.Sequential indices)
    pattern = r"(encoder\.block|decoder\.model)\.(\d+)(?:\.block\.(\d+)(?:\.block\.(\d+))?)?"
    if m := re.fullmatch(pattern, name):
        seq, j_str, k_str, inner = m.groups()
        side, j = seq.split(".")[0], int(j_str)
        if k_str is None:  # first conv, or the Snake and conv after the stride blocks
            index = {0: 0, n + 1: last["snake1"], n + 2: last["conv2"]}.get(j)
            return None if index is None else f"{side}.layers.{index}"
        k = int(k_str)
        res_units = (0, 1, 2) if side == "encoder" else (2, 3, 4)
        if not 1 <= j <= n or k > 4 or (inner is not None) != (k in res_units):
            return None
        if inner is None:
            return f"{side}.layers.{_flat(j, k)}"
        return None if int(inner) > 3 else f"{side}.layers.{_flat(j, k)}.block.{inner}"
    return None


def _split_param(key: str) -> tuple[str, str] | None:
    for suffix, kind in _WEIGHT_NORM.items():
        if key.endswith("." + suffix):
            return key[: -len(suffix) - 1], kind
    return None


def _check_metadata(metadata: Any, tok: DACCodec) -> None:
    """Compare a descript-audio-codec checkpoint's recorded ``DAC(...)`` kwargs with ``tok``."""
    kwargs = metadata.get("kwargs", {}) if isinstance(metadata, dict) else {}
    want = {
        "encoder_rates": list(tok.strides),
        "decoder_rates": list(reversed(tok.strides)),
        "sample_rate": tok.sample_rate,
    }
    bad = {k: kwargs[k] for k in want if k in kwargs and _as_list_or_int(kwargs[k]) != want[k]}
    if bad:
        raise ValueError(
            f"convert_dac_state_dict: the checkpoint was trained with {bad}, this model has "
            f"{ {k: want[k] for k in bad} }; build the variant of that checkpoint (dac_16khz, "
            "dac_24khz, dac_44khz, dac_44khz_16kbps)"
        )


def _as_list_or_int(value: Any) -> Any:
    return [int(v) for v in value] if isinstance(value, (list, tuple)) else value


def convert_dac_state_dict(state_dict: dict[str, Any], tok: DACCodec) -> dict[str, Tensor]:
    """Rename a DAC checkpoint for ``tok`` (a :class:`DACCodec` of the same architecture).

    Accepts the transformers ``DacModel`` state dict and the descript-audio-codec checkpoint (the
    whole ``{"state_dict", "metadata"}`` dict or its ``state_dict``); see the module docstring
    for both layouts. Weight norm may be old-style, parametrized or removed; the result always
    has our (parametrized) form. Our ``cluster_size`` buffers, which DAC lacks, are set to ones
    (their initial value). Raises ValueError listing unrecognised, missing and mismatched keys.
    """
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        _check_metadata(state_dict.get("metadata"), tok)
        state_dict = state_dict["state_dict"]
    levels = getattr(tok.quantizer, "levels", None)
    if levels is None or not all(getattr(q, "raw_codeword", False) for q in levels):
        raise ValueError(
            "convert_dac_state_dict: DAC checkpoints need DAC's quantizer (quantizer='residual' "
            "over 'vq' with distance='cosine', raw_codeword=True; see dac_rvq); this model has "
            f"{type(tok.quantizer).__name__} {tok.quantizer.extra_repr()}"
        )
    ours = tok.state_dict()
    n = len(tok.strides)
    params: dict[str, dict[str, Tensor]] = {}
    unknown: list[str] = []
    for key, value in state_dict.items():
        split = _split_param(key)
        module = None if split is None else _dac_module(split[0], n)
        if split is None or module is None:
            unknown.append(key)
            continue
        params.setdefault(module, {})[split[1]] = value

    out: dict[str, Tensor] = {}
    for module, p in params.items():
        if "alpha" in p:
            out[f"{module}.alpha"] = p.pop("alpha")
        if module.startswith("quantizer.") and not module.endswith(("project_in", "project_out")):
            if "w" in p:  # nn.Embedding weight
                out[f"{module}.codebook"] = p.pop("w")
        if "bias" in p:
            out[_param_key(ours, module, "bias")] = p.pop("bias")
        if "g" in p or "v" in p or "w" in p:
            out.update(_weight(ours, module, p))
    for key in ours:  # DAC has no usage statistics: start them as a fresh model does
        if key.endswith(".cluster_size") and key not in out:
            out[key] = torch.ones_like(ours[key])

    missing = sorted(set(ours) - set(out))
    extra = sorted(set(out) - set(ours))
    if unknown or missing or extra:
        raise ValueError(
            "convert_dac_state_dict: the checkpoint does not match this architecture: "
            f"unrecognised upstream keys {unknown[:5]}, model keys not filled {missing[:5]}, "
            f"converted keys the model lacks {extra[:5]} (totals {len(unknown)}/{len(missing)}/"
            f"{len(extra)}); was the tokenizer built with the checkpoint's architecture "
            "(strides, widths, number of codebooks)?"
        )
    for k, v in out.items():
        if v.shape != ours[k].shape and v.numel() == ours[k].numel() and v.shape[-1:] == (1,):
            out[k] = v.reshape(ours[k].shape)  # 1x1 conv (out, in, 1) -> Linear (out, in)
    bad = [k for k in out if out[k].shape != ours[k].shape]
    if bad:
        k = bad[0]
        raise ValueError(
            f"convert_dac_state_dict: shape mismatch for {k}: checkpoint {tuple(out[k].shape)}, "
            f"model {tuple(ours[k].shape)} ({len(bad)} tensors differ)"
        )
    return {k: v.to(ours[k].dtype) for k, v in out.items()}


def _param_key(ours: dict[str, Tensor], module: str, name: str) -> str:
    """``module.conv.name`` for our conv wrappers, ``module.name`` for plain modules."""
    conv = f"{module}.conv.{name}"
    return conv if any(k.startswith(f"{module}.conv.") for k in ours) else f"{module}.{name}"


def _weight(ours: dict[str, Tensor], module: str, p: dict[str, Tensor]) -> dict[str, Tensor]:
    """Our weight tensors of ``module`` from DAC's ``g``/``v`` (weight norm) or plain ``w``."""
    g_key = _param_key(ours, module, "parametrizations.weight.original0")
    v_key = _param_key(ours, module, "parametrizations.weight.original1")
    if "w" in p:
        w = p["w"]
        g = torch.linalg.vector_norm(w, dim=tuple(range(1, w.ndim)), keepdim=True)
        p = {"g": g, "v": w}
    if g_key in ours:
        return {g_key: p["g"], v_key: p["v"]} if "g" in p and "v" in p else {}
    v, g = p.get("v"), p.get("g")
    if v is None or g is None:
        return {}
    norm = torch.linalg.vector_norm(v, dim=tuple(range(1, v.ndim)), keepdim=True)
    return {_param_key(ours, module, "weight"): v * (g / norm)}


def convert_dac_checkpoint(path: str, tok: DACCodec) -> dict[str, Tensor]:
    """Converter for :class:`~zoo.registry.PretrainedCfg`: read a DAC checkpoint
    (transformers' ``model.safetensors`` from the Hub, or descript-audio-codec's ``.pth``) and
    convert it."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        sd: dict[str, Any] = load_file(str(path))
    else:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    return convert_dac_state_dict(sd, tok)


def _create(variant: str, **kwargs: Any) -> DACCodec:
    try:
        return DACCodec(**kwargs)
    except TypeError as err:
        raise TypeError(f"{variant}: {err}") from err


# ---------------------------------------------------------------------- variants
_PAPER = "Kumar et al., High-Fidelity Audio Compression with Improved RVQGAN, arXiv:2306.06546"
_DATA = (
    "speech (DAPS, DNS Challenge 4, Common Voice, VCTK), music (MUSDB, Jamendo) and general "
    "audio (AudioSet)"
)
_RELEASES = "https://github.com/descriptinc/descript-audio-codec/releases/download"


def _cfgs(sample_rate: int, hub_id: str | None, release: str, pth: str) -> dict[str, Any]:
    """Pretrained configs: transformers' safetensors on the Hub, then the upstream release."""
    common = dict(
        converter="convert_dac_checkpoint",
        license="MIT",
        paper=_PAPER,
        training_data=_DATA,
        sample_rate=sample_rate,
    )
    cfgs = {}
    if hub_id is not None:
        cfgs["descript"] = PretrainedCfg(
            hub_id=hub_id,
            filename="model.safetensors",
            notes="transformers-format upstream weights, converted on load",
            **common,
        )
    cfgs[f"descript_v{release.replace('.', '_')}"] = PretrainedCfg(
        url=f"{_RELEASES}/{release}/{pth}",
        filename=f"dac_{release}_{pth}",
        notes=f"descript-audio-codec release {release} checkpoint ({pth}), converted on load",
        **common,
    )
    return cfgs


@register_tokenizer
def dac_test(**kwargs: Any) -> DACCodec:
    """Tiny DAC for tests: 16 kHz, strides (2, 4, 5) (hop 40, an odd stride included), widths
    4-32, latents 32-d, residual VQ 4 x 64 codes of 4 dims."""
    args = dict(
        sample_rate=16000,
        strides=[2, 4, 5],
        encoder_dim=4,
        decoder_dim=48,
        quantizer="residual",
        quantizer_kwargs=dac_rvq(4, codebook_size=64, codebook_dim=4),
    )
    return _create("dac_test", **dict(args, **kwargs))


@register_tokenizer(
    pretrained_cfgs=_cfgs(16000, "descript/dac_16khz", "0.0.5", "weights_16khz.pth")
)
def dac_16khz(**kwargs: Any) -> DACCodec:
    """DAC 16 kHz: strides 2-4-5-8 (hop 320, 50 Hz), encoder 64 -> 1024 channels, 1024-d latents,
    decoder 1536 -> 96 channels; residual VQ 12 x 1024 codes of 8 dims (6 kbps)."""
    args = dict(
        sample_rate=16000,
        strides=[2, 4, 5, 8],
        quantizer="residual",
        quantizer_kwargs=dac_rvq(12),
    )
    return _create("dac_16khz", **dict(args, **kwargs))


@register_tokenizer(
    pretrained_cfgs=_cfgs(24000, "descript/dac_24khz", "0.0.4", "weights_24khz.pth")
)
def dac_24khz(**kwargs: Any) -> DACCodec:
    """DAC 24 kHz: the 16 kHz architecture at 24 kHz (hop 320, 75 Hz) with 32 codebooks
    (24 kbps)."""
    args = dict(
        sample_rate=24000,
        strides=[2, 4, 5, 8],
        quantizer="residual",
        quantizer_kwargs=dac_rvq(32),
    )
    return _create("dac_24khz", **dict(args, **kwargs))


@register_tokenizer(pretrained_cfgs=_cfgs(44100, "descript/dac_44khz", "0.0.1", "weights.pth"))
def dac_44khz(**kwargs: Any) -> DACCodec:
    """DAC 44.1 kHz: strides 2-4-8-8 (hop 512, ~86 Hz), 1024-d latents, 9 codebooks (~7.8 kbps)."""
    args = dict(
        sample_rate=44100,
        strides=[2, 4, 8, 8],
        quantizer="residual",
        quantizer_kwargs=dac_rvq(9),
    )
    return _create("dac_44khz", **dict(args, **kwargs))


@register_tokenizer(pretrained_cfgs=_cfgs(44100, None, "1.0.0", "weights_44khz_16kbps.pth"))
def dac_44khz_16kbps(**kwargs: Any) -> DACCodec:
    """DAC 44.1 kHz, 16 kbps release: strides 2-4-8-8, 128-d latents, 18 codebooks (~15.5 kbps).
    transformers' ``DacConfig`` cannot express ``latent_dim``, so only the upstream ``.pth``."""
    args = dict(
        sample_rate=44100,
        strides=[2, 4, 8, 8],
        latent_dim=128,
        quantizer="residual",
        quantizer_kwargs=dac_rvq(18),
    )
    return _create("dac_44khz_16kbps", **dict(args, **kwargs))
