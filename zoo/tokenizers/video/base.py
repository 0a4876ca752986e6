"""What every video tokenizer adds to :class:`~zoo.tokenizers.base.Tokenizer`.

Video is ``(B, 3, T, H, W)`` float in ``[-1, 1]`` (channels before time, the layout of
``torch.nn.Conv3d``). Codes are int64 ``(B, t, h, w, num_codebooks)`` for grid tokenizers (the
causal 3D CNN, C-ViViT) and ``(B, N, num_codebooks)`` for 1D ones (LARP). Handled here once:

- **frame counts.** Families that encode the first frame alone (MAGVIT-v2, Cosmos, VidTok,
  Phenaki) take ``T = 1 + ft * k`` frames (``ft`` the temporal factor: 1, 5, 9, ... for ``ft =
  4``) and give ``1 + k`` latent frames, so a one-frame clip is an image (:meth:`tokenize_image`).
  Others take multiples of ``ft``. Any other count is refused with the nearest valid counts; the
  documented padding rule is :meth:`pad_frames` (repeat the last frame up to the next valid
  count; trim the reconstruction back with ``x_hat[:, :, :T]``);
- **input errors name the problem and the fix**: the swapped layout ``(B, T, C, H, W)`` (the
  ``torchvision`` / decord order) is detected and the ``permute`` given; an empty clip, a single
  image without a time axis, NaN/Inf, integer pixels, sizes that the spatial factor does not
  divide;
- **chunked streaming** (``supports_streaming``, the causal families): :meth:`tokenize_stream` /
  :meth:`detokenize_stream` take one chunk of frames (or latent frames) at a time with an
  explicit :class:`VideoStreamState`; the concatenated outputs equal the whole-clip
  ``tokenize`` / ``detokenize`` to float tolerance, whatever the chunk sizes;
- **spatial tiling** for frames larger than the training size (or than memory allows):
  :meth:`tokenize_tiled` encodes overlapping tiles and keeps each tile's central codes
  (overlap-and-discard: codes cannot be blended); :meth:`detokenize_tiled` decodes overlapping
  tiles of codes and blends them with linear ramps over the overlap;
- **hierarchical codebooks**: with a residual quantizer (coarse-to-fine levels),
  ``tokenize(x, num_codebooks=k)`` keeps the first ``k`` codes per token and ``detokenize``
  accepts any such prefix (:meth:`supported_num_codebooks`).

``num_tokens`` / ``token_shape()`` / ``bits_per_item()`` describe a clip of the nominal size
(``num_frames`` x ``frame_size`` x ``frame_size``); :meth:`token_grid` gives the grid of any
valid size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from zoo.quantizers._utils import check_code_range, check_integer_codes
from zoo.tokenizers.base import Tokenizer

LAYOUT = "(B, C, T, H, W)"


@dataclass
class VideoStreamState:
    """Explicit state of one chunked encode or decode stream (one per stream, never shared).

    Attributes:
        layers: per-layer buffers in the model's own format (the frames each causal conv's
            next window still needs, a causal transformer's history, ...).
        frames: frames (encode) or latent frames (decode) consumed so far.
        shape: ``(B, C, H, W)`` of an encode stream, ``(B, h, w, k)`` of a decode stream: what
            every later chunk must match.
        finished: set by the ``final=True`` call; a finished stream accepts no more chunks.
    """

    layers: dict[Any, Any] = field(default_factory=dict)
    frames: int = 0
    shape: tuple[int, ...] | None = None
    finished: bool = False


class VideoTokenizer(Tokenizer):
    """Base class of video tokenizers (see the module docstring).

    Subclass contract, on top of :class:`~zoo.tokenizers.base.Tokenizer`'s: call
    :meth:`_init_video` in ``__init__``; implement ``encode`` / ``decode`` (``(B, t, h, w, d)``
    latents for grid families, ``(B, N, d)`` for 1D ones); streaming families set
    ``supports_streaming = True`` and implement ``_encode_chunk(x, layers) -> (B, n, h, w, d)``
    and ``_decode_chunk(quantized, layers) -> (B, C, m, H, W)``.
    """

    modality: ClassVar[str] = "video"
    input_axes: ClassVar[tuple[str, ...]] = ("T", "H", "W")
    stream_state_class = VideoStreamState
    input_layout: ClassVar[str] = LAYOUT
    model_card_layout: ClassVar[str | None] = "(B, 3, T, H, W)"
    channels_last_hint: ClassVar[str] = " (channels last? use x.permute(0, 4, 1, 2, 3))"
    #: Whether :meth:`tokenize_stream` / :meth:`detokenize_stream` are available.
    supports_streaming: ClassVar[bool] = False
    #: True when latent frame ``j`` depends on input frames ``<= ft * j`` only.
    causal: ClassVar[bool] = False
    #: True for 1D token sequences (no (t, h, w) grid: no streaming, no tiling).
    grid_tokens: ClassVar[bool] = True

    num_frames: int
    frame_size: int
    temporal_factor: int
    spatial_factor: int
    first_frame_separate: bool
    fixed_num_frames: bool = False
    fixed_frame_size: bool = False

    def _init_video(
        self,
        *,
        num_frames: int,
        frame_size: int,
        temporal_factor: int,
        spatial_factor: int,
        first_frame_separate: bool,
        fixed_num_frames: bool = False,
        fixed_frame_size: bool = False,
        in_channels: int = 3,
    ) -> None:
        who = type(self).__name__
        self.temporal_factor = int(temporal_factor)
        self.spatial_factor = int(spatial_factor)
        self.first_frame_separate = bool(first_frame_separate)
        self.fixed_num_frames = bool(fixed_num_frames)
        self.fixed_frame_size = bool(fixed_frame_size)
        self.in_channels = int(in_channels)
        self.num_frames = int(num_frames)
        self.frame_size = int(frame_size)
        if not self.valid_num_frames(self.num_frames):
            raise ValueError(f"{who}: num_frames={num_frames}: {self._frames_rule()}")
        if self.frame_size % self.spatial_factor:
            raise ValueError(
                f"{who}: frame_size ({frame_size}) must be a multiple of the spatial factor "
                f"{self.spatial_factor}"
            )
        self.input_multiple = (1, self.spatial_factor, self.spatial_factor)
        if self.grid_tokens:
            self.num_tokens = math.prod(self.token_shape())

    # ------------------------------------------------------------------ sizes
    def valid_num_frames(self, t: int) -> bool:
        """Whether a clip of ``t`` frames can be tokenized."""
        if self.fixed_num_frames:
            return t == self.num_frames
        ft = self.temporal_factor
        return t >= 1 and (t % ft == 1 % ft if self.first_frame_separate else t % ft == 0)

    def num_latent_frames(self, t: int) -> int:
        """Latent frames of a valid clip of ``t`` frames: ``1 + (t - 1) / ft`` when the first
        frame is encoded alone, else ``t / ft``."""
        ft = self.temporal_factor
        return 1 + (t - 1) // ft if self.first_frame_separate else t // ft

    def token_grid(self, t: int, h: int, w: int) -> tuple[int, int, int]:
        """``(t', h', w')`` token grid of a valid ``T x H x W`` clip (grid families)."""
        f = self.spatial_factor
        return (self.num_latent_frames(t), h // f, w // f)

    def token_shape(self, num_tokens: int | None = None) -> tuple[int, ...]:
        """Token grid ``(t, h, w)`` of a clip of the nominal size; 1D families: ``(N,)``."""
        if not self.grid_tokens:
            return super().token_shape(num_tokens)
        if num_tokens is not None:
            self._check_num_tokens_arg(num_tokens)
        return self.token_grid(self.num_frames, self.frame_size, self.frame_size)

    def _frames_rule(self) -> str:
        ft = self.temporal_factor
        if self.fixed_num_frames:
            return f"this model takes exactly {self.num_frames} frames"
        if self.first_frame_separate:
            return (
                f"this model takes 1 + {ft}k frames (the first frame alone, then groups of {ft}: "
                f"{', '.join(str(1 + ft * k) for k in range(4))}, ...)"
            )
        return f"this model takes a multiple of {ft} frames"

    def _nearest_frame_counts(self, t: int) -> list[int]:
        if self.fixed_num_frames:
            return [self.num_frames]
        ft = self.temporal_factor
        off = 1 if self.first_frame_separate else 0
        lower = max(off if off else ft, (t - off) // ft * ft + off)
        return sorted({v for v in (lower, lower + ft) if v >= 1 and v != t})[:2]

    def frame_count_hint(self, t: int) -> str:
        """Which counts work near ``t`` and how to get there."""
        near = " or ".join(map(str, self._nearest_frame_counts(t)))
        return (
            f"{self._frames_rule()}; nearest valid counts: {near}. Crop the clip, or pad it with "
            f"tok.pad_frames(x) (repeats the last frame) and trim the reconstruction to the "
            f"original T"
        )

    def pad_frames(self, x: Tensor) -> tuple[Tensor, int]:
        """``(x_padded, T)``: ``x`` with its last frame repeated up to the next valid frame
        count, and the original count ``T`` (trim with ``x_hat[:, :, :T]``). The documented rule
        for clips whose length the temporal factor does not take."""
        self._check_layout(x)
        t = x.shape[2]
        if t == 0:
            raise ValueError(f"{self._label}: cannot pad an empty clip (0 frames)")
        if self.fixed_num_frames:
            if t > self.num_frames:
                raise ValueError(
                    f"{self._label}: {t} frames is more than this model's {self.num_frames}; crop"
                )
            target = self.num_frames
        else:
            target = t
            while not self.valid_num_frames(target):
                target += 1
        if target == t:
            return x, t
        tail = x[:, :, -1:].expand(-1, -1, target - t, -1, -1)
        return torch.cat([x, tail], 2), t

    # ------------------------------------------------------------------ validation
    def validate_input(self, x: Tensor) -> None:
        """Raise TypeError/ValueError, naming the problem and the fix, unless ``x`` is a valid
        clip ``(B, C, T, H, W)`` (see the module docstring)."""
        self._check_layout(x)
        self._check_input_size(tuple(x.shape[2:]))
        if self.check_inputs:
            self._check_values(x)

    def _check_layout(self, x: Tensor) -> None:
        """Type, dtype, device, rank, batch, channel axis (with the swapped-layout hint)."""
        c = self.in_channels
        if not isinstance(x, Tensor):
            hint = " (convert with torch.from_numpy)" if type(x).__name__ == "ndarray" else ""
            raise TypeError(
                f"{self._label}: expected a torch.Tensor {LAYOUT}, got {type(x).__name__}{hint}"
            )
        if not x.is_floating_point():
            raise TypeError(
                f"{self._label}: expected a floating-point video tensor with values in [-1, 1], "
                f"got dtype {x.dtype}; convert it to float in [-1, 1] (uint8 pixels: "
                "x.float() / 127.5 - 1)."
            )
        self._check_device(x)
        if x.ndim == 4 and x.shape[1] == c:
            raise ValueError(
                f"{self._label}: expected a 5-d video tensor {LAYOUT}, got the 4-d shape "
                f"{tuple(x.shape)}, which looks like images (B, C, H, W); add the time axis with "
                "x.unsqueeze(2) (a one-frame clip) or use tokenize_image"
            )
        if x.ndim != 5:
            raise ValueError(
                f"{self._label}: expected a 5-d video tensor {LAYOUT}, got shape {tuple(x.shape)}"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{self._label}: got an empty batch, shape {tuple(x.shape)}")
        if x.shape[1] != c:
            if x.shape[2] == c:
                raise ValueError(
                    f"{self._label}: expected {c} channels at dim 1 of {LAYOUT}, got shape "
                    f"{tuple(x.shape)}, which looks like the (B, T, C, H, W) layout (frames "
                    "before channels, as torchvision / decord return them); swap the axes with "
                    "x.permute(0, 2, 1, 3, 4)"
                )
            if x.shape[-1] == c:
                raise ValueError(
                    f"{self._label}: expected {c} channels at dim 1 of {LAYOUT}, got shape "
                    f"{tuple(x.shape)}, which looks channels-last (B, T, H, W, C); use "
                    "x.permute(0, 4, 1, 2, 3)"
                )
            raise ValueError(
                f"{self._label}: expected {c} channels at dim 1 of {LAYOUT}, got shape "
                f"{tuple(x.shape)}"
            )

    def _check_input_size(self, sizes: tuple[int, ...]) -> None:
        t, h, w = sizes
        if t == 0:
            raise ValueError(
                f"{self._label}: got an empty clip (0 frames, T = dim 2 of {LAYOUT}); pass at "
                "least one frame"
            )
        if not self.valid_num_frames(t):
            raise ValueError(f"{self._label}: got T = {t} frames: {self.frame_count_hint(t)}")
        self._check_frame_size(h, w)

    def _check_frame_size(self, h: int, w: int) -> None:
        s, f = self.frame_size, self.spatial_factor
        if self.fixed_frame_size:
            if (h, w) != (s, s):
                raise ValueError(
                    f"{self._label}: expected frames of {s} x {s}, got {h} x {w}; this model "
                    f"works at a fixed frame size: resize the frames, or use "
                    f"tok.tokenize_tiled(x) for larger frames (overlapping {s} px tiles)"
                )
            return
        bad = [(n, v) for n, v in (("H", h), ("W", w)) if v % f]
        if bad:
            near = ", ".join(
                f"{n}: {' or '.join(str(u) for u in (v // f * f, v // f * f + f) if u > 0)}"
                for n, v in bad
            )
            raise ValueError(
                f"{self._label}: H/W must be multiples of the spatial factor {f}, got {h} x {w}; "
                f"nearest valid sizes: {near} (pad or crop the frames)"
            )
        low = self.smallest_input_size()[1:]
        if h < low[0] or w < low[1]:
            raise ValueError(
                f"{self._label}: frames must be at least {low[0]} x {low[1]} (the smallest this "
                f"architecture runs on), got {h} x {w}; pad or resize them"
            )

    def smallest_input_size(self) -> tuple[int, ...]:
        ft = self.temporal_factor
        t = self.num_frames if self.fixed_num_frames else (1 if self.first_frame_separate else ft)
        if self.fixed_frame_size:
            return (t, self.frame_size, self.frame_size)
        m = self.min_input_size
        lo = (m, m, m) if isinstance(m, int) else tuple(m)
        return (t, max(lo[1], self.spatial_factor), max(lo[2], self.spatial_factor))

    def _check_values(self, x: Tensor) -> None:
        finite = torch.isfinite(x)
        if not finite.all():
            b, c, t, i, j = (int(v) for v in (~finite).nonzero()[0])
            raise ValueError(
                f"{self._label}: input contains NaN or Inf ({int((~finite).sum())} of "
                f"{x.numel()} values, the first at item {b}, channel {c}, frame {t}, pixel "
                f"({i}, {j})); repair the clip (e.g. torch.nan_to_num(x)) or drop it"
            )
        lo, hi = float(x.detach().min()), float(x.detach().max())
        tol = self.range_tolerance
        if lo < -1 - tol or hi > 1 + tol:
            hint = (
                " (looks like [0, 255]: use x / 127.5 - 1)"
                if hi > 2
                else " (looks like [0, 1]: use 2 * x - 1)"
                if lo >= 0 and hi <= 1 + tol
                else ""
            )
            raise ValueError(
                f"{self._label}: expected values in [-1, 1], got values in [{lo:.4g}, {hi:.4g}]"
                f"{hint}"
            )

    def supported_num_codebooks(self) -> list[int]:
        """Codes per token that ``detokenize`` accepts: every level prefix of a residual
        (hierarchical) quantizer, else all codebooks only."""
        q = self.quantizer
        if q.accepts_code_prefix and hasattr(q, "codes_per_level"):
            step = q.codes_per_level
            return list(range(step, q.num_codebooks + 1, step))
        return [q.num_codebooks]

    def validate_codes(self, codes: Tensor) -> None:
        if not self.grid_tokens:
            return super().validate_codes(codes)
        want = f"(B, t, h, w, k) with k in {self.supported_num_codebooks()}"
        check_integer_codes(codes, self._label, want)
        if codes.ndim != 5 or codes.shape[-1] not in self.supported_num_codebooks():
            hint = (
                "; 1D codes? this model's tokens form a (t, h, w) grid" if codes.ndim == 3 else ""
            )
            raise ValueError(
                f"{self._label}: expected codes of shape {want}, got {tuple(codes.shape)}{hint}"
            )
        if codes.shape[0] == 0:
            raise ValueError(f"{self._label}: got an empty batch of codes {tuple(codes.shape)}")
        if 0 in codes.shape[2:4]:
            raise ValueError(
                f"{self._label}: got an empty token grid, codes of shape {tuple(codes.shape)}"
            )
        if self.fixed_frame_size and codes.shape[2:4] != self.token_shape()[1:]:
            raise ValueError(
                f"{self._label}: expected a {self.token_shape()[1:]} token grid per latent "
                f"frame, got codes {tuple(codes.shape)}; use detokenize_tiled for larger grids"
            )
        if self.check_inputs:
            check_code_range(codes, self.codebook_size, self._label)

    def _check_num_codebooks(self, num_codebooks: int | None) -> int:
        allowed = self.supported_num_codebooks()
        if num_codebooks is None:
            return allowed[-1]
        if isinstance(num_codebooks, bool) or num_codebooks not in allowed:
            raise ValueError(
                f"{self._label}: num_codebooks must be one of {allowed}, got {num_codebooks!r}"
            )
        return int(num_codebooks)

    # ------------------------------------------------------------------ public API
    @torch.no_grad()
    def tokenize(
        self, x: Tensor, num_tokens: int | None = None, *, num_codebooks: int | None = None
    ) -> Tensor:
        """Codes of clips ``x`` ``(B, C, T, H, W)`` in ``[-1, 1]``: int64
        ``(B, t, h, w, k)`` (grid families) or ``(B, N, k)`` (1D families).

        Args:
            num_tokens: flexible-length 1D families only: keep the first ``N`` tokens.
            num_codebooks: hierarchical (residual) quantizers: keep the first ``k`` codes per
                token (coarse levels first); one of :meth:`supported_num_codebooks`.
        """
        k = self._check_num_codebooks(num_codebooks)
        return super().tokenize(x, num_tokens)[..., :k]

    @torch.no_grad()
    def tokenize_image(self, images: Tensor) -> Tensor:
        """Codes ``(B, h, w, k)`` of images ``(B, C, H, W)``: a one-frame clip (families that
        encode the first frame alone)."""
        self._require_image_path()
        if not isinstance(images, Tensor) or images.ndim != 4:
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"{self._label}: tokenize_image expects (B, C, H, W), got {shape}")
        return self.tokenize(images.unsqueeze(2))[:, 0]

    def detokenize_image(self, codes: Tensor) -> Tensor:
        """Images ``(B, C, H, W)`` from codes ``(B, h, w, k)`` (see :meth:`tokenize_image`)."""
        self._require_image_path()
        if not isinstance(codes, Tensor) or codes.ndim != 4:
            shape = tuple(codes.shape) if isinstance(codes, Tensor) else type(codes).__name__
            raise ValueError(f"{self._label}: detokenize_image expects (B, h, w, k), got {shape}")
        return self.detokenize(codes.unsqueeze(1))[:, :, 0]

    def _require_image_path(self) -> None:
        if not (self.first_frame_separate and self.grid_tokens and not self.fixed_num_frames):
            raise RuntimeError(
                f"{self._label}: only tokenizers that encode the first frame alone take images"
            )

    # ------------------------------------------------------------------ streaming
    @torch.no_grad()
    def tokenize_stream(
        self,
        chunk: Tensor | None,
        state: VideoStreamState | None = None,
        *,
        final: bool = False,
        num_codebooks: int | None = None,
    ) -> tuple[Tensor, VideoStreamState]:
        """Codes of the next chunk of a stream: ``(codes (B, n, h, w, k), state)``.

        Feed chunks ``(B, C, m, H, W)`` of any length ``m >= 0`` (None: no new frames) with the
        returned ``state`` (None starts a stream); mark the last call ``final=True``. Latent
        frame ``j`` is emitted as soon as its input frames have arrived (frame 0 alone gives the
        first); ``n`` varies per call. The concatenation over the stream equals ``tokenize`` of
        the whole clip, whose frame count must be valid (checked at the final call).
        """
        self._check_streaming()
        state = self._check_stream_state(state)
        k = self._check_num_codebooks(num_codebooks)
        x = self._check_chunk(chunk, state)
        if final and not self.valid_num_frames(state.frames + x.shape[2]):
            raise ValueError(
                f"{self._label}: the stream ends after T = {state.frames + x.shape[2]} frames: "
                f"{self.frame_count_hint(state.frames + x.shape[2])}"
            )
        state.frames += x.shape[2]
        z = self._encode_chunk(self._as_model_dtype(x), state.layers)
        state.finished = final
        if z.shape[1] == 0:
            b, _, h, w = state.shape  # type: ignore[misc]
            f = self.spatial_factor
            return torch.zeros(b, 0, h // f, w // f, k, dtype=torch.long, device=x.device), state
        return self.quantizer.encode(z)[..., :k], state

    @torch.no_grad()
    def detokenize_stream(
        self,
        codes: Tensor | None,
        state: VideoStreamState | None = None,
        *,
        final: bool = False,
    ) -> tuple[Tensor, VideoStreamState]:
        """Frames for the next latent frames of a stream: ``(frames (B, C, m, H, W), state)``.

        ``codes`` is ``(B, n, h, w, k)`` with ``n >= 0`` (None: none) and the same ``B, h, w, k``
        on every call. The first latent frame gives one frame, each later one
        ``temporal_factor`` frames; the concatenation equals ``detokenize`` of all codes.
        """
        self._check_streaming()
        state = self._check_stream_state(state)
        if codes is not None:
            self._check_stream_codes(codes)
            key = (codes.shape[0], *codes.shape[2:])
            if state.shape is not None and key != state.shape:
                raise ValueError(
                    f"{self._label}: a stream keeps its batch size, grid and codebook count "
                    f"(B, h, w, k) = {state.shape}; got codes {tuple(codes.shape)}"
                )
            state.shape = key
        if state.shape is None:
            raise ValueError(f"{self._label}: the first detokenize_stream call needs codes")
        if codes is None or codes.shape[1] == 0:
            b, h, w, _ = state.shape
            q = torch.zeros(b, 0, h, w, self.quantizer.dim, device=self._device())
        else:
            q = self.quantizer.decode(codes)
        state.frames += q.shape[1]
        frames = self._decode_chunk(q.to(self._model_dtype()), state.layers)
        state.finished = final
        return frames, state

    def _check_stream_codes(self, codes: Tensor) -> None:
        if isinstance(codes, Tensor) and codes.ndim == 5 and codes.shape[1] == 0:
            check_integer_codes(codes, self._label, "(B, n, h, w, k)")
            return
        self.validate_codes(codes)

    def _device(self) -> torch.device:
        p = next(self.parameters(), None)
        return torch.device("cpu") if p is None else p.device

    def _encode_chunk(self, x: Tensor, layers: dict) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _encode_chunk")

    def _decode_chunk(self, q: Tensor, layers: dict) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _decode_chunk")

    def _check_streaming(self) -> None:
        if not self.supports_streaming:
            raise RuntimeError(
                f"{self._label}: this model does not stream (it is not causal in time); use "
                "tokenize / detokenize on whole clips"
            )

    def _check_chunk(self, chunk: Tensor | None, state: VideoStreamState) -> Tensor:
        if chunk is None:
            if state.shape is None:
                raise ValueError(f"{self._label}: the first tokenize_stream call needs frames")
            b, c, h, w = state.shape
            return torch.zeros(b, c, 0, h, w, dtype=self._model_dtype(), device=self._device())
        self._check_layout(chunk)
        b, c, _, h, w = chunk.shape
        if state.shape is None:
            self._check_frame_size(h, w)
            state.shape = (b, c, h, w)
        elif (b, c, h, w) != state.shape:
            raise ValueError(
                f"{self._label}: a stream keeps its batch size and frame size (B, C, H, W) = "
                f"{state.shape}; got a chunk of shape {tuple(chunk.shape)}"
            )
        if chunk.shape[2] and self.check_inputs:
            self._check_values(chunk)
        return chunk

    # ------------------------------------------------------------------ spatial tiling
    def _tiles(self, size: int, tile: int, overlap: int) -> list[tuple[int, int, int]]:
        """Per axis, in latent units: ``(start, keep_lo, keep_hi)`` of windows of ``tile``
        latents overlapping by ``overlap``; the kept ranges partition ``[0, size)``."""
        if size <= tile:
            return [(0, 0, size)]
        step = tile - overlap
        starts = list(range(0, size - tile, step)) + [size - tile]
        out = []
        for i, s in enumerate(starts):
            lo = 0 if i == 0 else (s + starts[i - 1] + tile) // 2
            hi = size if i == len(starts) - 1 else (starts[i + 1] + s + tile) // 2
            out.append((s, lo, hi))
        return out

    def _tile_args(self, tile: int | None, overlap: int | None) -> tuple[int, int]:
        if not self.grid_tokens:
            raise RuntimeError(f"{self._label}: tiling needs a (t, h, w) token grid")
        f = self.spatial_factor
        tile = self.frame_size if tile is None else int(tile)
        if self.fixed_frame_size and tile != self.frame_size:
            raise ValueError(
                f"{self._label}: this model works on {self.frame_size} px frames only; tile must "
                f"be {self.frame_size}, got {tile}"
            )
        overlap = (tile // 4) // f * f if overlap is None else int(overlap)
        if tile % f or overlap % f or not 0 <= overlap < tile // 2 + 1 or tile <= 0:
            raise ValueError(
                f"{self._label}: tile ({tile}) and overlap ({overlap}) must be multiples of the "
                f"spatial factor {f} with 0 <= overlap <= tile / 2"
            )
        return tile // f, overlap // f

    @torch.no_grad()
    def tokenize_tiled(
        self, x: Tensor, *, tile: int | None = None, overlap: int | None = None
    ) -> Tensor:
        """Codes ``(B, t, H/f, W/f, k)`` of clips whose frames are larger than the model's
        training size (or than memory allows): overlapping ``tile`` px tiles (default
        ``frame_size``, overlap ``tile / 4``) are tokenized and each keeps the codes nearest its
        centre. Frames no larger than a tile give exactly ``tokenize(x)``."""
        self._check_layout(x)
        tl, ol = self._tile_args(tile, overlap)
        f = self.spatial_factor
        t, h, w = x.shape[2:]
        if t == 0 or not self.valid_num_frames(t):
            self._check_input_size((t, self.frame_size, self.frame_size))
        if h % f or w % f or h < tl * f or w < tl * f:
            raise ValueError(
                f"{self._label}: tokenize_tiled needs H and W multiples of {f} and at least the "
                f"tile ({tl * f} px), got {h} x {w}"
            )
        rows, cols = self._tiles(h // f, tl, ol), self._tiles(w // f, tl, ol)
        out = None
        for r0, rlo, rhi in rows:
            for c0, clo, chi in cols:
                sub = x[..., r0 * f : (r0 + tl) * f, c0 * f : (c0 + tl) * f]
                codes = self.tokenize(sub)
                if out is None:
                    out = codes.new_zeros(*codes.shape[:2], h // f, w // f, codes.shape[-1])
                out[:, :, rlo:rhi, clo:chi] = codes[:, :, rlo - r0 : rhi - r0, clo - c0 : chi - c0]
        assert out is not None
        return out

    def detokenize_tiled(
        self, codes: Tensor, *, tile: int | None = None, overlap: int | None = None
    ) -> Tensor:
        """Frames ``(B, C, T, h f, w f)`` from codes of a grid larger than the model's
        training size: overlapping tiles of ``tile / f`` latents are decoded and blended with
        linear ramps over the overlap (seamless where neighbouring tiles agree)."""
        tl, ol = self._tile_args(tile, overlap)
        f = self.spatial_factor
        if not isinstance(codes, Tensor) or codes.ndim != 5:
            raise ValueError(f"{self._label}: expected codes (B, t, h, w, k), got {codes!r:.80}")
        h, w = codes.shape[2:4]
        if h < tl or w < tl:
            return self.detokenize(codes)
        out = weight = None
        for r0, _, _ in self._tiles(h, tl, ol):
            for c0, _, _ in self._tiles(w, tl, ol):
                y = self.detokenize(codes[:, :, r0 : r0 + tl, c0 : c0 + tl])
                wr = _ramp(tl * f, ol * f, r0 > 0, r0 + tl < h, y)
                wc = _ramp(tl * f, ol * f, c0 > 0, c0 + tl < w, y)
                wt = wr[:, None] * wc[None, :]
                if out is None:
                    out = y.new_zeros(*y.shape[:3], h * f, w * f)
                    weight = y.new_zeros(h * f, w * f)
                rs, cs = slice(r0 * f, (r0 + tl) * f), slice(c0 * f, (c0 + tl) * f)
                out[..., rs, cs] += y * wt
                weight[rs, cs] += wt
        assert out is not None and weight is not None
        return out / weight


def _ramp(n: int, overlap: int, fade_in: bool, fade_out: bool, like: Tensor) -> Tensor:
    """Blend weights over ``n`` pixels: linear ramps of ``overlap`` pixels at the sides that
    overlap a neighbour, ones elsewhere (never exactly zero)."""
    w = torch.ones(n, dtype=like.dtype, device=like.device)
    if overlap:
        ramp = (torch.arange(overlap, dtype=like.dtype, device=like.device) + 0.5) / overlap
        if fade_in:
            w[:overlap] = ramp
        if fade_out:
            w[n - overlap :] = ramp.flip(0)
    return w
