"""Tokenize and detokenize clips of any length chunk by chunk, in memory that does not grow with
the clip (what ``python -m zoo.codec`` runs on hour-long files).

:class:`ChunkedEncoder` / :class:`ChunkedDecoder` take the clip (or its codes) in pieces of any
size, ``feed(piece, final=...)`` returning what is ready, and pick the method from the model:

- **streaming models** (``supports_streaming``: SEANet/EnCodec, DAC, the causal transformer):
  ``tokenize_stream`` / ``detokenize_stream`` with their explicit state. The concatenated output
  equals ``tokenize`` / ``detokenize`` of the whole clip (to float rounding), whatever the piece
  sizes; memory is that of one piece plus the layers' small buffers.
- **other models** (WavTokenizer, whose decoder attends over the whole clip): overlapping
  windows. Encoding tokenizes windows of ``window`` samples with ``context`` samples of real audio
  on each side and keeps the codes of the window's own frames (overlap-and-discard: codes cannot
  be blended). Decoding detokenizes windows of codes with ``context`` frames on each side and
  joins neighbouring windows with a linear crossfade over ``context`` frames centred on their
  boundary. This is an approximation of the whole-clip result (identical only where the model's
  receptive field fits in the context), the price of bounded memory.

Layouts are the tokenizer's: audio ``(B, channels, samples)`` at its ``sample_rate``, codes
``(B, frames, k)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.tokenizers.audio.base import AudioTokenizer, StreamState

#: Window and context of the windowed (non-streaming) path, in seconds.
WINDOW_SECONDS = 30.0
CONTEXT_SECONDS = 2.0


def _frames(tok: AudioTokenizer, seconds: float, minimum: int) -> int:
    return max(minimum, round(seconds * tok.frame_rate))


class ChunkedEncoder:
    """Codes of a clip fed in pieces (see the module docstring).

    Args:
        tok: an audio tokenizer (put it in eval mode first).
        num_codebooks: keep the first ``k`` codebooks (as ``tokenize``).
        window_seconds, context_seconds: the windowed path's window and context on each side
            (rounded to whole frames); unused by streaming models.
    """

    def __init__(
        self,
        tok: AudioTokenizer,
        *,
        num_codebooks: int | None = None,
        window_seconds: float = WINDOW_SECONDS,
        context_seconds: float = CONTEXT_SECONDS,
    ) -> None:
        self.tok = tok
        self.k = tok._check_num_codebooks(num_codebooks)
        self.streaming = tok.supports_streaming
        self.state: StreamState | None = None
        hop = tok.hop_length
        self.window = _frames(tok, window_seconds, 1) * hop
        self.context = _frames(tok, context_seconds, 0) * hop
        self.buffer: Tensor | None = None  # audio from sample `start` on
        self.start = 0
        self.done = 0  # samples whose codes were returned (a multiple of hop until the end)

    @torch.no_grad()
    def feed(self, chunk: Tensor | None, *, final: bool = False) -> Tensor:
        """Codes ``(B, n, k)`` that ``chunk`` (``(B, C, m)``, or None) completes."""
        if self.streaming:
            codes, self.state = self.tok.tokenize_stream(
                chunk, self.state, final=final, num_codebooks=self.k
            )
            return codes
        if chunk is not None:
            self.tok._check_audio_tensor(chunk)
            self.buffer = chunk if self.buffer is None else torch.cat([self.buffer, chunk], -1)
        if self.buffer is None:
            raise ValueError(f"{self.tok._label}: the first chunk of a stream needs audio")
        out = []
        end = self.start + self.buffer.shape[-1]
        while end >= self.done + self.window + self.context:
            out.append(self._window(self.done + self.window))
        if final and end > self.done:
            out.append(self._window(end))
        if not out:
            return torch.zeros(self.buffer.shape[0], 0, self.k, dtype=torch.long)
        return torch.cat(out, 1)

    def _window(self, stop: int) -> Tensor:
        """Codes of samples ``[done, stop)``, tokenized with context on both sides."""
        end = self.start + self.buffer.shape[-1]
        x = self.buffer[..., : min(end, stop + self.context) - self.start]
        skip = (self.done - self.start) // self.tok.hop_length
        n = self.tok.num_frames(stop - self.done)
        codes = self.tok.tokenize(x, num_codebooks=self.k)[:, skip : skip + n]
        self.done = stop
        keep_from = max(0, self.done - self.context)
        self.buffer = self.buffer[..., keep_from - self.start :].clone()  # not a view of it all
        self.start = keep_from
        return codes


class ChunkedDecoder:
    """Audio of codes fed in pieces (see the module docstring).

    Args:
        tok: an audio tokenizer (put it in eval mode first).
        window_seconds, context_seconds: the windowed path's window and context (rounded to
            whole frames; the crossfade spans the context); unused by streaming models.
    """

    def __init__(
        self,
        tok: AudioTokenizer,
        *,
        window_seconds: float = WINDOW_SECONDS,
        context_seconds: float = CONTEXT_SECONDS,
    ) -> None:
        self.tok = tok
        self.streaming = tok.supports_streaming
        self.state: StreamState | None = None
        self.window = _frames(tok, window_seconds, 1)
        self.half = _frames(tok, context_seconds / 2, 0)  # half the crossfade, in frames
        self.context = 2 * self.half
        self.codes: Tensor | None = None  # codes from frame `start` on
        self.start = 0
        self.next = 0  # first frame of the next window
        self.tail: Tensor | None = None  # the previous window's audio over the next crossfade

    @torch.no_grad()
    def feed(self, codes: Tensor | None, *, final: bool = False) -> Tensor:
        """Audio ``(B, channels, m)`` that ``codes`` (``(B, n, k)``, or None) completes."""
        if self.streaming:
            audio, self.state = self.tok.detokenize_stream(codes, self.state, final=final)
            return audio
        if codes is not None:
            self.tok.validate_codes(codes)
            self.codes = codes if self.codes is None else torch.cat([self.codes, codes], 1)
        if self.codes is None:
            raise ValueError(f"{self.tok._label}: the first chunk of a stream needs codes")
        out = []
        end = self.start + self.codes.shape[1]
        while end >= self.next + self.window + self.context:
            out.append(self._window(self.next + self.window, last=False))
        if final and end > self.next:
            out.append(self._window(end, last=True))
        if not out:
            return torch.zeros(self.codes.shape[0], self.tok.channels, 0)
        return torch.cat(out, -1)

    def _window(self, stop: int, *, last: bool) -> Tensor:
        """Audio of frames ``[next - half, stop - half)`` (to the end when ``last``), decoded with
        context and crossfaded into the previous window's tail."""
        hop, half = self.tok.hop_length, self.half
        lo = max(self.start, self.next - self.context)
        hi = self.start + self.codes.shape[1] if last else stop + self.context
        audio = self.tok.detokenize(self.codes[:, lo - self.start : hi - self.start])
        first = max(0, self.next - half) if self.tail is not None else self.next
        audio = audio[..., (first - lo) * hop :]
        if self.tail is not None:
            n = self.tail.shape[-1]
            fade = torch.linspace(0.0, 1.0, n + 2, dtype=audio.dtype)[1:-1]
            audio = torch.cat([self.tail * (1 - fade) + audio[..., :n] * fade, audio[..., n:]], -1)
        if last:
            self.tail = None
            ready = audio
        else:
            cut = (stop - half - first) * hop
            ready, self.tail = audio[..., :cut], audio[..., cut : cut + 2 * half * hop].clone()
        self.next = stop
        keep_from = max(self.start, self.next - self.context)
        self.codes = self.codes[:, keep_from - self.start :].clone()
        self.start = keep_from
        return ready
