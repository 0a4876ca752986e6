"""What every audio tokenizer adds to :class:`~zoo.tokenizers.base.Tokenizer`.

Audio is ``(B, C, samples)`` float in ``[-1, 1]`` at the model's ``sample_rate``; codes are int64
``(B, frames, num_codebooks)``, one token per ``hop_length`` samples (``frame_rate`` tokens per
second). Audio tokenizers differ from image ones in four ways, all handled here once:

- **any clip length** of at least one frame (``hop_length`` samples) is accepted. Tokens cover the
  clip rounded up to whole frames; ``detokenize`` returns ``frames * hop_length`` samples (pass
  ``length=`` to trim) and ``forward`` trims its reconstruction to the input length;
- **variable bitrate**: with a residual quantizer, ``tokenize(x, num_codebooks=k)`` keeps the first
  ``k`` codebooks and ``detokenize`` accepts any such prefix; ``bitrate(k)`` is in bits/second;
- **sample rate**: ``tokenize(x, sample_rate=sr)`` checks the rate and, with ``resample=True``,
  resamples (``torchaudio.functional.resample``); a mismatch without it is an error;
- **chunked streaming** (``supports_streaming``): ``tokenize_stream`` / ``detokenize_stream`` take
  one chunk at a time and an explicit :class:`StreamState`; the concatenated outputs equal the
  full-clip ``tokenize`` / ``detokenize`` (to float tolerance).

``num_tokens`` is the token count of one second of audio (``ceil(frame_rate)``), so
``bits_per_item()`` is the bitrate at all codebooks.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from zoo.outputs import TokenizerOutput
from zoo.quantizers import Quantizer, create_quantizer
from zoo.tokenizers.base import Tokenizer


def build_quantizer(name: str, kwargs: dict[str, Any] | None, dim: int, who: str) -> Quantizer:
    """Quantizer ``name`` for latents of width ``dim``.

    ``dim`` may be left out of ``kwargs`` (for ``"residual"``, out of its per-level
    ``quantizer_kwargs``): it is filled in; a different value is an error.
    """
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError(f"{who}: quantizer_kwargs must be a dict, got {type(kwargs).__name__}")
    kw = copy.deepcopy(kwargs or {})
    target = kw.setdefault("quantizer_kwargs", {}) if name == "residual" else kw
    target.setdefault("dim", dim)
    q = create_quantizer(name, **kw)
    if q.dim != dim:
        raise ValueError(
            f"{who}: the quantizer's dim ({q.dim}) must equal the latent width ({dim}); leave "
            "'dim' out of quantizer_kwargs and it is set for you"
        )
    return q


@dataclass
class StreamState:
    """Explicit state of one chunked encode or decode stream (one per stream, never shared).

    Attributes:
        layers: per-layer state in the model's own format (buffers, recurrent state, ...), plus
            ``_audio`` / ``_codes``: batch size, dtype/width and device of the stream, so a
            final call may carry no new data.
        samples: input samples (encode) or frames (decode) consumed so far.
        finished: set by the ``final=True`` call; a finished stream accepts no more chunks.
    """

    layers: dict[str, Any] = field(default_factory=dict)
    samples: int = 0
    finished: bool = False


class AudioTokenizer(Tokenizer):
    """Base class of audio tokenizers (see the module docstring).

    Subclass contract, on top of :class:`~zoo.tokenizers.base.Tokenizer`'s:
        * set ``sample_rate``, ``channels`` (= ``in_channels``), ``hop_length``, ``num_tokens``
          (use :meth:`_init_audio`);
        * ``encode(x) -> (B, frames, dim)`` for any length ``>= hop_length``, with
          ``frames = ceil(samples / hop_length)``;
        * ``decode(quantized) -> (B, C, frames * hop_length)``;
        * streaming families set ``supports_streaming = True`` and implement
          ``_encode_chunk(x, state, final) -> (B, n, dim)`` and
          ``_decode_chunk(quantized, state, final) -> (B, C, m)``.
    """

    modality = "audio"
    #: Whether chunked ``tokenize_stream`` / ``detokenize_stream`` are available.
    supports_streaming: ClassVar[bool] = False

    sample_rate: int
    channels: int
    hop_length: int
    #: True when output at time t depends on input up to t only (plus the fixed, frame-sized
    #: look-ahead of strided convolutions): streaming latency is one frame.
    causal: bool = False

    def _init_audio(self, *, sample_rate: int, channels: int, hop_length: int) -> None:
        for name, v in (("sample_rate", sample_rate), ("channels", channels)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int, got {v!r}")
        self.sample_rate = sample_rate
        self.channels = channels
        self.in_channels = channels
        self.hop_length = int(hop_length)
        self.num_tokens = math.ceil(self.frame_rate)

    # ------------------------------------------------------------------ rates
    @property
    def frame_rate(self) -> float:
        """Tokens per second: ``sample_rate / hop_length``."""
        return self.sample_rate / self.hop_length

    def supported_num_codebooks(self) -> list[int]:
        """The values ``tokenize(x, num_codebooks=k)`` accepts (every residual prefix)."""
        q = self.quantizer
        if q.accepts_code_prefix and hasattr(q, "codes_per_level"):
            step = q.codes_per_level
            return list(range(step, q.num_codebooks + 1, step))
        return [q.num_codebooks]

    def bitrate(self, num_codebooks: int | None = None) -> float:
        """Bits per second of codes with the first ``num_codebooks`` codebooks (default all)."""
        k = self._check_num_codebooks(num_codebooks)
        return self.frame_rate * k * math.log2(self.codebook_size)

    def num_frames(self, num_samples: int) -> int:
        """Tokens of a clip of ``num_samples`` samples: ``ceil(num_samples / hop_length)``."""
        return -(-int(num_samples) // self.hop_length)

    # ------------------------------------------------------------------ public API
    @torch.no_grad()
    def tokenize(
        self,
        x: Tensor,
        num_tokens: int | None = None,
        *,
        num_codebooks: int | None = None,
        sample_rate: int | None = None,
        resample: bool = False,
    ) -> Tensor:
        """Codes of audio ``x``: int64 ``(B, frames, k)``, ``frames = ceil(samples / hop)``.

        Args:
            x: ``(B, channels, samples)`` float in ``[-1, 1]``, at least ``hop_length`` samples.
            num_tokens: must be None (the clip length sets the token count).
            num_codebooks: keep the first ``k`` codebooks (lower bitrate); one of
                :meth:`supported_num_codebooks`. Default: all.
            sample_rate: rate of ``x`` in Hz; checked against the model's ``sample_rate``.
            resample: resample ``x`` to the model's rate when ``sample_rate`` differs.
        """
        x = self._prepare_input(x, sample_rate, resample)
        if num_tokens is not None:
            raise ValueError(
                f"{self._label}: num_tokens must be None for audio (the clip length sets the "
                f"token count, {self.frame_rate:g} tokens/s); got {num_tokens!r}"
            )
        k = self._check_num_codebooks(num_codebooks)
        return self.quantizer.encode(self.encode(x))[..., :k]

    def detokenize(self, codes: Tensor, *, length: int | None = None) -> Tensor:
        """Audio ``(B, channels, frames * hop_length)`` from codes ``(B, frames, k)``.

        ``k`` may be any of :meth:`supported_num_codebooks` (a prefix of the codebooks).
        ``length`` trims the output to that many samples (the original clip length). Values are
        approximately in ``[-1, 1]`` (not clamped). Gradients flow to the decoder.
        """
        self.validate_codes(codes)
        audio = self.decode(self.quantizer.decode(codes))
        return audio if length is None else audio[..., : int(length)]

    def forward(self, x: Tensor, num_tokens: int | None = None) -> TokenizerOutput:
        """Training path: encode, quantize (straight-through, quantizer dropout), decode.

        The reconstruction is trimmed to the input length, so losses compare like with like.
        """
        self.validate_input(x)
        if num_tokens is not None:
            raise ValueError(f"{self._label}: num_tokens must be None for audio, got {num_tokens}")
        q = self.quantizer(self.encode(x))
        x_hat = self.decode(q.quantized)[..., : x.shape[-1]]
        return TokenizerOutput(reconstruction=x_hat, quantizer=q, num_tokens=q.codes.shape[1])

    # ------------------------------------------------------------------ streaming
    @torch.no_grad()
    def tokenize_stream(
        self,
        chunk: Tensor | None,
        state: StreamState | None = None,
        *,
        final: bool = False,
        num_codebooks: int | None = None,
    ) -> tuple[Tensor, StreamState]:
        """Codes of the next chunk of a stream: ``(codes (B, n, k), state)``.

        Feed chunks of any length (``(B, channels, m)``, ``m >= 0``; None means no new audio)
        with the returned ``state``; mark the last call ``final=True`` to flush. ``n`` varies per
        call (codes are emitted once their receptive field is complete); the concatenation over
        the stream equals ``tokenize`` of the whole clip.
        """
        self._check_streaming()
        state = self._check_stream_state(state)
        x = self._check_chunk(chunk, state)
        k = self._check_num_codebooks(num_codebooks)
        state.samples += x.shape[-1]
        if final and state.samples < self.hop_length:
            raise ValueError(
                f"{self._label}: the stream ended after {state.samples} samples, shorter than one "
                f"frame ({self.hop_length} samples at {self.sample_rate} Hz)"
            )
        z = self._encode_chunk(x, state, final)
        state.finished = final
        if z.shape[1] == 0:
            return torch.zeros(x.shape[0], 0, k, dtype=torch.long, device=x.device), state
        return self.quantizer.encode(z)[..., :k], state

    @torch.no_grad()
    def detokenize_stream(
        self, codes: Tensor | None, state: StreamState | None = None, *, final: bool = False
    ) -> tuple[Tensor, StreamState]:
        """Audio for the next codes of a stream: ``(audio (B, channels, m), state)``.

        ``codes`` is ``(B, n, k)`` with ``n >= 0`` (None: no new codes) and the same ``k`` on
        every call; mark the last call ``final=True`` to flush. The concatenated audio equals
        ``detokenize`` of all codes at once.
        """
        self._check_streaming()
        state = self._check_stream_state(state)
        if codes is not None:
            self.validate_codes(codes)
            seen = state.layers.get("_codes")
            if seen is not None and (codes.shape[0], codes.shape[-1]) != seen[:2]:
                raise ValueError(
                    f"{self._label}: a stream keeps its batch size and codebook count; this "
                    f"stream has (B, k) = {seen[:2]}, got codes {tuple(codes.shape)}"
                )
            state.layers["_codes"] = (codes.shape[0], codes.shape[-1], codes.device)
        if "_codes" not in state.layers:
            raise ValueError(f"{self._label}: the first detokenize_stream call needs codes")
        if codes is None or codes.shape[1] == 0:
            b, _, device = state.layers["_codes"]
            q = torch.zeros(b, 0, self.quantizer.dim, device=device)
        else:
            q = self.quantizer.decode(codes)
        state.samples += q.shape[1]
        audio = self._decode_chunk(q, state, final)
        state.finished = final
        return audio, state

    def _encode_chunk(
        self, x: Tensor, state: StreamState, final: bool
    ) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _encode_chunk")

    def _decode_chunk(
        self, quantized: Tensor, state: StreamState, final: bool
    ) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _decode_chunk")

    def _check_streaming(self) -> None:
        if not self.supports_streaming:
            raise RuntimeError(
                f"{self._label}: this model does not support chunked streaming; use tokenize / "
                "detokenize on whole clips"
            )

    def _check_stream_state(self, state: StreamState | None) -> StreamState:
        if state is None:
            return StreamState()
        if not isinstance(state, StreamState):
            raise TypeError(
                f"{self._label}: state must be a StreamState returned by the previous call (or "
                f"None to start), got {type(state).__name__}"
            )
        if state.finished:
            raise ValueError(
                f"{self._label}: this stream was finished with final=True; start a new one with "
                "state=None"
            )
        return state

    def _check_chunk(self, chunk: Tensor | None, state: StreamState) -> Tensor:
        if chunk is None:
            if "_audio" not in state.layers:
                raise ValueError(f"{self._label}: the first tokenize_stream call needs audio")
            b, dtype, device = state.layers["_audio"]
            return torch.zeros(b, self.channels, 0, dtype=dtype, device=device)
        self._check_audio_tensor(chunk)
        if chunk.shape[-1]:
            self._check_values(chunk)
        seen = state.layers.setdefault("_audio", (chunk.shape[0], chunk.dtype, chunk.device))
        if chunk.shape[0] != seen[0]:
            raise ValueError(
                f"{self._label}: a stream keeps its batch size; this stream has B = {seen[0]}, "
                f"got a chunk of shape {tuple(chunk.shape)}"
            )
        return chunk

    # ------------------------------------------------------------------ validation
    def _prepare_input(self, x: Tensor, sample_rate: int | None, resample: bool) -> Tensor:
        if sample_rate is not None:
            if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float):
                raise TypeError(f"{self._label}: sample_rate must be a number, got {sample_rate!r}")
            if int(sample_rate) != self.sample_rate:
                if not resample:
                    raise ValueError(
                        f"{self._label}: expects {self.sample_rate} Hz audio, got sample_rate="
                        f"{int(sample_rate)}; resample it first (torchaudio.functional.resample("
                        f"x, {int(sample_rate)}, {self.sample_rate})) or pass resample=True"
                    )
                self._check_audio_tensor(x)
                import torchaudio.functional as AF  # only needed on this path

                x = AF.resample(x, int(sample_rate), self.sample_rate)
        elif resample:
            raise ValueError(f"{self._label}: resample=True needs the input's sample_rate=")
        self.validate_input(x)
        return x

    def validate_input(self, x: Tensor) -> None:
        """Raise TypeError/ValueError, naming expected vs got, unless ``x`` is a valid clip."""
        self._check_audio_tensor(x)
        super().validate_input(x)

    def _check_audio_tensor(self, x: Tensor) -> None:
        # Audio-specific hints before the generic checks of the base class.
        if not isinstance(x, Tensor):
            raise TypeError(
                f"{self._label}: expected a torch.Tensor (B, {self.channels}, samples), got "
                f"{type(x).__name__}"
            )
        if x.ndim == 2:
            raise ValueError(
                f"{self._label}: expected a 3-d audio tensor (B, {self.channels}, samples), got "
                f"shape {tuple(x.shape)}; add the channel axis with x.unsqueeze(1)"
            )
        if x.ndim == 3 and x.shape[1] != self.channels:
            hint = (
                "mix down to mono with x.mean(1, keepdim=True)"
                if self.channels == 1
                else f"this model needs {self.channels} channels"
            )
            raise ValueError(
                f"{self._label}: expected {self.channels} audio channels at dim 1 of "
                f"(B, C, samples), got shape {tuple(x.shape)}; {hint}"
            )
        if x.ndim != 3 or not x.is_floating_point():
            super().validate_input(x)  # the generic message for other layouts and dtypes

    def _check_values(self, x: Tensor) -> None:
        finite = torch.isfinite(x)
        if not finite.all():
            raise ValueError(
                f"{self._label}: input contains NaN or Inf ({int((~finite).sum())} of {x.numel()} "
                "values)"
            )
        peak = float(x.abs().max())
        if peak > 1 + self.range_tolerance:
            raise ValueError(
                f"{self._label}: expected samples in [-1, 1], got peak {peak:.4g} (int16 PCM? "
                "divide by 32768)"
            )

    def _check_input_size(self, sizes: tuple[int, ...]) -> None:
        (samples,) = sizes
        if samples < self.hop_length:
            raise ValueError(
                f"{self._label}: clip of {samples} samples is shorter than one frame "
                f"({self.hop_length} samples = {1000 * self.hop_length / self.sample_rate:g} ms at "
                f"{self.sample_rate} Hz); pad it to at least {self.hop_length} samples"
            )

    def validate_codes(self, codes: Tensor) -> None:
        """Codes ``(B, frames, k)`` with ``k`` in :meth:`supported_num_codebooks`, int dtype."""
        if not isinstance(codes, Tensor):
            raise TypeError(
                f"{self._label}: expected a torch.Tensor of codes (B, frames, k), got "
                f"{type(codes).__name__}"
            )
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
            raise TypeError(
                f"{self._label}: expected integer codes (B, frames, k), got dtype {codes.dtype}; "
                "codes come from tokenize() as int64."
            )
        allowed = self.supported_num_codebooks()
        if codes.ndim != 3 or codes.shape[-1] not in allowed:
            raise ValueError(
                f"{self._label}: expected codes of shape (B, frames, k) with k in {allowed}, got "
                f"{tuple(codes.shape)}"
            )
        if codes.shape[0] == 0:
            raise ValueError(f"{self._label}: got an empty batch of codes {tuple(codes.shape)}")

    def _check_num_codebooks(self, num_codebooks: int | None) -> int:
        allowed = self.supported_num_codebooks()
        if num_codebooks is None:
            return allowed[-1]
        if isinstance(num_codebooks, bool) or num_codebooks not in allowed:
            raise ValueError(
                f"{self._label}: num_codebooks must be one of {allowed}, got {num_codebooks!r}"
            )
        return int(num_codebooks)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, sample_rate={self.sample_rate}, channels={self.channels}, "
            f"hop_length={self.hop_length}, frame_rate={self.frame_rate:g}"
        )
