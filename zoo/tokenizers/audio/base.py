"""What every audio tokenizer adds to :class:`~zoo.tokenizers.base.Tokenizer`.

Audio is ``(B, C, samples)`` float in ``[-1, 1]`` at the model's ``sample_rate``; codes are int64
``(B, frames, num_codebooks)``, one token per ``hop_length`` samples (``frame_rate`` tokens per
second). Audio tokenizers differ from image ones in five ways, all handled here once:

- **any clip length** of at least one frame (``hop_length`` samples) is accepted. Tokens cover the
  clip rounded up to whole frames; ``detokenize`` returns ``frames * hop_length`` samples (pass
  ``length=`` to trim) and ``forward`` trims its reconstruction to the input length;
- **variable bitrate**: with a residual quantizer, ``tokenize(x, num_codebooks=k)`` keeps the first
  ``k`` codebooks and ``detokenize`` accepts any such prefix; ``bitrate(k)`` is in bits/second;
- **sample rate**: ``tokenize(x, sample_rate=sr)`` checks the rate and, with ``resample=True``,
  resamples (``torchaudio.functional.resample``); a mismatch without it is an error;
- **chunked streaming** (``supports_streaming``): ``tokenize_stream`` / ``detokenize_stream`` take
  one chunk at a time and an explicit :class:`StreamState`; the concatenated outputs equal the
  full-clip ``tokenize`` / ``detokenize`` (to float tolerance);
- **input errors name the problem and the fix**: a wrong sample rate, an empty clip or one
  shorter than a frame, NaN/Inf samples, a channel count the model does not take (stereo into a
  mono model), another dtype or layout, samples outside ``[-1, 1]``, and codes outside
  ``[0, codebook_size)`` or with no frames. Silence is valid input (pauses in real streams).

``num_tokens`` is the token count of one second of audio (``ceil(frame_rate)``), so
``bits_per_item()`` is the bitrate at all codebooks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from zoo.outputs import TokenizerOutput
from zoo.tokenizers.audio.resampling import check_torchaudio_resample
from zoo.tokenizers.base import Tokenizer


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
    input_axes = ("samples",)
    stream_state_class = StreamState
    input_layout = "(B, C, samples)"
    code_range_hint = (
        "; use codes from this model's tokenize() (codes of another model, or with an offset such "
        "as a language model's vocabulary shift, do not decode here)"
    )
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
        if codes.shape[1] == 0:
            raise ValueError(
                f"{self._label}: got codes with 0 frames {tuple(codes.shape)}; detokenize needs "
                "at least one frame"
            )
        total = codes.shape[1] * self.hop_length
        if length is not None and (
            isinstance(length, bool) or not isinstance(length, int) or not 0 < length <= total
        ):
            raise ValueError(
                f"{self._label}: length must be an int in [1, {total}] ({codes.shape[1]} frames "
                f"of {self.hop_length} samples), got {length!r}"
            )
        audio = self.decode(self.quantizer.decode(codes))
        return audio if length is None else audio[..., :length]

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
            rate = self._check_sample_rate(sample_rate)
            if rate != self.sample_rate:
                if not resample:
                    raise ValueError(
                        f"{self._label}: expects {self.sample_rate} Hz audio, got sample_rate="
                        f"{rate}; resample it first (torchaudio.functional.resample(x, {rate}, "
                        f"{self.sample_rate})) or pass resample=True"
                    )
                self._check_audio_tensor(x)
                if self.check_inputs:
                    self._check_values(x)  # the input's own range, before resampling
                check_torchaudio_resample(
                    rate, self.sample_rate, who=self._label, num_samples=x.shape[-1]
                )
                import torchaudio.functional as AF  # only needed on this path

                # Band-limiting a clip that reaches full scale overshoots [-1, 1] (Gibbs
                # ringing: 1.13 for a clipped 16 kHz recording taken to 8 kHz); the input was in
                # range, so the overshoot is clipped rather than refused.
                x = AF.resample(x, rate, self.sample_rate).clamp(-1, 1)
        elif resample:
            raise ValueError(
                f"{self._label}: resample=True needs the input's rate: tokenize(x, "
                "sample_rate=<Hz of x>, resample=True)"
            )
        self.validate_input(x)
        return x

    def _check_sample_rate(self, sample_rate: Any) -> int:
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float):
            raise TypeError(
                f"{self._label}: sample_rate must be the input's rate in Hz (an int), got "
                f"{sample_rate!r}"
            )
        if not math.isfinite(sample_rate) or sample_rate <= 0 or sample_rate != int(sample_rate):
            raise ValueError(
                f"{self._label}: sample_rate must be a positive whole number of Hz, got "
                f"{sample_rate!r}"
            )
        return int(sample_rate)

    def validate_input(self, x: Tensor) -> None:
        """Raise TypeError/ValueError, naming the problem and the fix, unless ``x`` is a valid
        clip: a ``(B, channels, samples)`` tensor of the model's float dtype with ``B >= 1``,
        ``samples >= hop_length``, finite values in ``[-1, 1]`` (value checks only while
        ``check_inputs``). Silence is valid."""
        self._check_audio_tensor(x)
        if x.shape[0] == 0:
            raise ValueError(f"{self._label}: got an empty batch, shape {tuple(x.shape)}")
        self._check_input_size(tuple(x.shape[2:]))
        if self.check_inputs:
            self._check_values(x)

    def _check_audio_tensor(self, x: Tensor) -> None:
        """Type, dtype and layout of a clip or stream chunk (any length, values unchecked)."""
        want = f"(B, {self.channels}, samples)"
        if not isinstance(x, Tensor):
            hint = " (convert with torch.from_numpy)" if type(x).__name__ == "ndarray" else ""
            raise TypeError(
                f"{self._label}: expected a torch.Tensor {want}, got {type(x).__name__}{hint}"
            )
        dtype = self._model_dtype()
        if not x.is_floating_point():
            pcm = {
                torch.int16: "x.float() / 32768 (int16 PCM)",
                torch.int32: "x.float() / 2**31 (int32 PCM)",
                torch.uint8: "(x.float() - 128) / 128 (8-bit PCM)",
            }
            fix = pcm.get(x.dtype, "x.float() after scaling the samples to [-1, 1]")
            raise TypeError(
                f"{self._label}: expected a floating-point audio tensor with values in [-1, 1], "
                f"got dtype {x.dtype}; convert it with {fix}"
            )
        self._check_device(x)
        if x.dtype != dtype:
            raise TypeError(
                f"{self._label}: expected {dtype} audio (the model's dtype), got {x.dtype}; "
                f"convert it with x.to({dtype})"
                + (
                    " (soundfile: sf.read(path, dtype='float32'))"
                    if x.dtype == torch.float64 and dtype == torch.float32
                    else ""
                )
            )
        if x.ndim != 3:
            hints = {
                1: "; add batch and channel axes with x[None, None]",
                2: "; add the channel axis with x.unsqueeze(1)",
            }
            raise ValueError(
                f"{self._label}: expected a 3-d audio tensor {want}, got shape "
                f"{tuple(x.shape)}{hints.get(x.ndim, '')}"
            )
        if x.shape[1] != self.channels:
            if self.channels == 1:
                hint = "mix down to mono with x.mean(1, keepdim=True)"
            elif x.shape[1] == 1:
                hint = f"repeat a mono clip with x.expand(-1, {self.channels}, -1)"
            else:
                hint = f"this model needs {self.channels} channels"
            want_s, got_s = ("" if n == 1 else "s" for n in (self.channels, x.shape[1]))
            raise ValueError(
                f"{self._label}: expected {self.channels} audio channel{want_s} at dim 1 of "
                f"(B, C, samples), got {x.shape[1]} channel{got_s} (shape {tuple(x.shape)}); "
                f"{hint}"
            )

    def _check_values(self, x: Tensor) -> None:
        finite = torch.isfinite(x)
        if not finite.all():
            b, c, t = (int(i) for i in (~finite).nonzero()[0])
            raise ValueError(
                f"{self._label}: input contains NaN or Inf ({int((~finite).sum())} of {x.numel()} "
                f"values, the first at item {b}, channel {c}, sample {t}); repair the clip (e.g. "
                "torch.nan_to_num(x)) or drop it"
            )
        peak = float(x.detach().abs().max())
        if peak > 1 + self.range_tolerance:
            hint = (
                "int16 PCM scale? divide by 32768"
                if peak > 256
                else "normalise it (x / x.abs().amax(-1, keepdim=True)) or clip it (x.clamp(-1, 1))"
            )
            raise ValueError(
                f"{self._label}: expected samples in [-1, 1], got peak {peak:.4g}; {hint}"
            )

    def _check_input_size(self, sizes: tuple[int, ...]) -> None:
        (samples,) = sizes
        frame = (
            f"one frame ({self.hop_length} samples = "
            f"{1000 * self.hop_length / self.sample_rate:g} ms at {self.sample_rate} Hz)"
        )
        if samples == 0:
            raise ValueError(
                f"{self._label}: got an empty clip (0 samples), shorter than {frame}; skip it or "
                f"pass at least {self.hop_length} samples"
            )
        if samples < self.hop_length:
            raise ValueError(
                f"{self._label}: clip of {samples} samples is shorter than {frame}; pad it to at "
                f"least {self.hop_length} samples (torch.nn.functional.pad(x, (0, "
                f"{self.hop_length - samples})))"
            )

    # Codes ``(B, frames, k)``: any integer dtype, ``k`` in :meth:`supported_num_codebooks`,
    # ``B >= 1``, values in ``[0, codebook_size)`` (while ``check_inputs``); the base class's
    # validate_codes runs the checks through these hooks.
    def _codes_layout(self) -> str:
        return "(B, frames, k)"

    def _accepted_num_codebooks(self) -> list[int]:
        return self.supported_num_codebooks()

    def _codebooks_detail(self, allowed: list[int]) -> str:
        return f" with k in {allowed}"

    def _codes_shape_hint(self, codes: Tensor, allowed: list[int]) -> str:
        if codes.ndim == 2 and allowed == [1]:
            return "; add the codebook axis with codes.unsqueeze(-1)"
        return ""

    def _check_token_grid(self, codes: Tensor) -> None:
        """``frames`` may be 0 here (an empty stream chunk); :meth:`detokenize` needs one."""

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
