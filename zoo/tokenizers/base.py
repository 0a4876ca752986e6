"""The tokenizer interface shared by every image, video and audio tokenizer.

A tokenizer maps an input to discrete codes and back:

- images ``(B, 3, H, W)``, video ``(B, 3, T, H, W)``, audio ``(B, C, samples)``, float, values in
  ``[-1, 1]``. Images and video of any floating dtype (float16, bfloat16, float64, ...) are
  converted to the model's parameter dtype, and reconstructions come back in the model's dtype;
  integer pixels, meta tensors and inputs on another device than the model are rejected with the
  fix in the message;
- codes: int64 ``(B, *token_shape, num_codebooks)``, 0-based, always with the trailing codebook
  axis (``token_shape`` is ``(N,)`` for 1D tokenizers, ``(h, w)`` for 2D image grids, ...).

Subclasses implement two hooks on continuous latents, ``encode`` and ``decode``, and own a
``self.quantizer`` from :func:`zoo.quantizers.create_quantizer`; the base class does the rest once:
input and code validation with clear errors, ``tokenize`` / ``detokenize`` / ``forward``, bit
accounting, and (through ``PyTorchModelHubMixin``) ``save_pretrained`` / ``from_pretrained`` /
``push_to_hub`` in the Hub format of :mod:`zoo.hub` (``model.safetensors`` + ``config.json`` naming
the registry entry + ``README.md`` model card).

Constructor arguments of subclasses must be keyword-only and JSON-able, with no ``*args`` or
``**kwargs``: the mixin records them when the object is created, ``config.json`` stores them next
to ``architecture`` (the registry name), and loading calls
``create_tokenizer(architecture, **args)``.
"""

from __future__ import annotations

import copy
import inspect
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin
from torch import Tensor, nn

from zoo._io import atomic_dir
from zoo.outputs import TokenizerOutput
from zoo.quantizers import Quantizer, create_quantizer
from zoo.quantizers._utils import check_code_range, check_integer_codes
from zoo.tokenizers._arguments import check_argument_types

#: Keys of config.json that are not constructor arguments.
RESERVED_CONFIG_KEYS = ("architecture",)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

#: Family base classes by modality (``"image"`` -> ImageTokenizer, ...): each declares its
#: input layout and registers itself here when defined (``Tokenizer.__init_subclass__``).
_FAMILIES: dict[str, type[Tokenizer]] = {}

#: The Hub layer's loader of ``save_pretrained`` folders / Hub repos and its model-card renderer.
#: They build through the registry, which sits above this module, so :mod:`zoo.hub` registers
#: them here when it is imported (``import zoo`` and any ``import zoo.<module>`` import it) with
#: :func:`register_hub_functions`; this module never imports the layers above it.
_HUB_FUNCTIONS: dict[str, Callable[..., Any]] = {}


def register_hub_functions(
    *, load_from_folder_or_repo: Callable[..., Tokenizer], render_model_card: Callable[..., Any]
) -> None:
    """Install the Hub layer's functions behind :meth:`Tokenizer.from_pretrained` and
    :meth:`Tokenizer.generate_model_card` (called by :mod:`zoo.hub` on import)."""
    _HUB_FUNCTIONS.update(
        load_from_folder_or_repo=load_from_folder_or_repo, render_model_card=render_model_card
    )


def _hub_function(name: str) -> Callable[..., Any]:
    if name not in _HUB_FUNCTIONS:
        raise RuntimeError(
            f"Tokenizer: {name} belongs to the Hub layer, which registers itself when zoo.hub is "
            "imported; import zoo (or zoo.hub) first"
        )
    return _HUB_FUNCTIONS[name]


def build_quantizer(
    name: str, kwargs: dict[str, Any] | None, dim: int, who: str, *, dim_name: str = "dim"
) -> Quantizer:
    """Quantizer ``name`` for latents of width ``dim`` (the tokenizer argument ``dim_name``).

    ``dim`` may be left out of ``kwargs`` (for ``"residual"``, out of its per-level
    ``quantizer_kwargs``): it is filled in; a different value is an error naming ``who``.
    """
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError(f"{who}: quantizer_kwargs must be a dict, got {type(kwargs).__name__}")
    kw = copy.deepcopy(kwargs or {})
    target = kw.setdefault("quantizer_kwargs", {}) if name == "residual" else kw
    if isinstance(target, dict) and target.get("dim", dim) != dim:
        raise ValueError(
            f"{who}: quantizer_kwargs['dim']={target['dim']!r} differs from {dim_name}={dim}, the "
            "latent width; leave 'dim' out, the tokenizer sets it"
        )
    if isinstance(target, dict):
        target.setdefault("dim", dim)
    q = create_quantizer(name, **kw)
    if q.dim != dim:
        raise ValueError(
            f"{who}: the quantizer's dim ({q.dim}) must equal the latent width ({dim}); leave "
            "'dim' out of quantizer_kwargs and it is set for you"
        )
    return q


class Tokenizer(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="tokenizer-zoo",
    tags=["tokenizer-zoo"],
    repo_url="https://github.com/tokenizer-zoo/tokenizer-zoo",
):
    """Base class of every tokenizer.

    Subclass contract (each modality's family base, e.g.
    :class:`~zoo.tokenizers.image.base.ImageTokenizer`, sets the first three once):
        * class attribute ``modality``: ``"image"``, ``"video"``, ``"audio"``, ...;
        * class attributes ``input_axes``, the names of the size axes after the channel axis
          (``("H", "W")``, ``("T", "H", "W")``, ``("samples",)``), and ``input_layout``, the batch
          layout errors print (``"(B, C, H, W)"``); ``model_card_layout`` overrides the latter in
          model cards;
        * class attribute ``flexible_length``: True when any prefix of the 1D token sequence can be
          decoded (``tokenize(x, num_tokens=k)`` for ``1 <= k <= num_tokens``);
        * in ``__init__`` (keyword-only, JSON-able arguments): ``self.quantizer`` (a
          :class:`~zoo.quantizers.Quantizer`), ``self.num_tokens`` (tokens per item at the default
          input size), and, where they differ from the class defaults, ``self.in_channels``,
          ``self.input_multiple`` and ``self.input_size`` (see below);
        * ``encode(x) -> (B, *token_shape, dim)`` continuous latents, channels last;
        * ``decode(quantized, num_tokens=None) -> x_hat`` in the input layout and value range;
        * override ``token_shape`` for non-1D token layouts (e.g. ``(h, w)``).

    Input-size attributes used by :meth:`validate_input`:
        in_channels: channel count ``C`` of the input (3 for RGB images and video).
        input_multiple: every size axis after the channels (``H, W`` / ``T, H, W`` / samples) must
            be a multiple of this (an int for all axes, or one int per axis), e.g. the patch size
            or the total downsampling factor.
        input_size: a fixed required size per axis (models with learned position embeddings over
            a fixed grid), or None for any size that satisfies ``input_multiple``.
        min_input_size: the smallest size per axis the architecture runs on. Subclasses with
            other rules (e.g. causal video with ``1 + 4k`` frames) override ``_check_input_size``.

    Attributes:
        architecture: the registry name (``family_variant``, no tag); set by
            :func:`zoo.registry.create_tokenizer` and written to ``config.json``.
        pretrained_cfg: the ``PretrainedCfg`` of the tag it was created from (or None).
        check_inputs: set to False to skip the value checks (range, NaN) that synchronise the
            device, e.g. in tight training loops; shape and dtype checks always run.
    """

    modality: ClassVar[str] = ""
    #: Names of the size axes after the channel axis, and the batch layout messages print.
    input_axes: ClassVar[tuple[str, ...]] = ()
    input_layout: ClassVar[str] = ""
    #: The layout model cards show (None: ``input_layout``).
    model_card_layout: ClassVar[str | None] = None
    #: Appended to the wrong-channel-count error when the last axis holds the channels.
    channels_last_hint: ClassVar[str] = ""
    flexible_length: ClassVar[bool] = False

    in_channels: int = 3
    input_multiple: int | tuple[int, ...] = 1
    input_size: tuple[int, ...] | None = None
    #: Smallest size per axis the architecture runs on (an int for all axes, or one per axis),
    #: e.g. ``f`` for a model that downsamples by ``f`` to a 1 x 1 grid, ``2 f`` when a norm
    #: needs two values per group there. Set by families whose minimum exceeds one multiple.
    min_input_size: int | tuple[int, ...] = 1
    #: Values may exceed [-1, 1] by this much (resampling overshoot) before input is rejected.
    range_tolerance: ClassVar[float] = 1e-2
    #: When set, :meth:`validate_codes` checks code values (``[0, codebook_size)``) itself and
    #: appends this fix to the error; None leaves the range to the quantizer's ``decode``.
    code_range_hint: ClassVar[str | None] = None

    architecture: str | None = None
    #: The :class:`zoo.registry.PretrainedCfg` of the tag the tokenizer was created from, if any.
    pretrained_cfg: Any = None
    check_inputs: bool = True

    quantizer: Quantizer
    num_tokens: int

    def __init__(self) -> None:
        super().__init__()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _check_init_signature(cls)
        if cls.modality and "input_axes" in cls.__dict__:
            # A family base (ImageTokenizer, AudioTokenizer, ...) registers its modality's layout.
            _FAMILIES.setdefault(cls.modality, cls)

    def __new__(cls, *args: Any, **kwargs: Any) -> Tokenizer:
        # The mixin records constructor arguments here but silently skips values that are not
        # JSON-able and keeps the default instead, so config.json would rebuild another model.
        bad = {k: v for k, v in kwargs.items() if not cls._is_jsonable(v)}
        if args or bad:
            got = f"positional arguments {args!r}" if args else f"{bad!r}"
            raise TypeError(
                f"{cls.__name__}: constructor arguments must be keyword-only and JSON-able "
                f"(int, float, str, bool, None, lists/dicts of those) so config.json can rebuild "
                f"the model; got {got}"
            )
        check_argument_types(cls, kwargs)
        instance = super().__new__(cls, *args, **kwargs)
        # A private copy: __init__ code that normalises a passed list/dict in place must not
        # change what config.json records (nor the mixin's shared default values).
        instance._hub_mixin_config = copy.deepcopy(instance._hub_mixin_config)
        return instance

    # ------------------------------------------------------------------ sizes and bits
    @property
    def codebook_size(self) -> int:
        """Entries per codebook of the quantizer."""
        return self.quantizer.codebook_size

    @property
    def num_codebooks(self) -> int:
        """Codes per token (the trailing axis of the codes)."""
        return self.quantizer.num_codebooks

    def token_shape(self, num_tokens: int | None = None) -> tuple[int, ...]:
        """Shape of the token grid per item, without batch and codebook axes.

        The base implementation is the 1D layout ``(num_tokens,)``; 2D/3D tokenizers override it.
        ``num_tokens`` selects a prefix length for flexible-length tokenizers.
        """
        return (self._resolve_num_tokens(num_tokens),)

    def bits_per_item(self, num_tokens: int | None = None) -> float:
        """Bits of codes per item: ``tokens * quantizer.bits_per_token``."""
        return math.prod(self.token_shape(num_tokens)) * self.quantizer.bits_per_token

    # ------------------------------------------------------------------ subclass hooks
    def encode(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Continuous latents ``(B, *token_shape, dim)`` (channels last) of a valid input ``x``.

        Flexible-length families also accept ``num_tokens=k`` and may return only ``k`` tokens.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement encode")

    def decode(
        self, quantized: Tensor, num_tokens: int | None = None
    ) -> Tensor:  # pragma: no cover - abstract
        """Reconstruction in the input layout and value range from ``(B, *token_shape, dim)``.

        For flexible-length tokenizers ``quantized`` may hold only the first ``num_tokens`` tokens.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement decode")

    def sample_num_tokens(self) -> int:
        """Token count used by ``forward`` in training mode (flexible-length tokenizers only).

        Default: uniform in ``[1, num_tokens]`` (nested dropout / tail drop); families override
        it for other schedules. Uses torch's global RNG so seeding makes it reproducible.
        """
        return int(torch.randint(1, self.num_tokens + 1, ()).item())

    # ------------------------------------------------------------------ public API
    @torch.no_grad()
    def tokenize(self, x: Tensor, num_tokens: int | None = None) -> Tensor:
        """Codes of ``x``: int64 ``(B, *token_shape, num_codebooks)``, values in
        ``[0, codebook_size)``.

        Args:
            x: input in this tokenizer's layout (images ``(B, 3, H, W)``, video
                ``(B, 3, T, H, W)``, audio ``(B, C, samples)``), float, values in ``[-1, 1]``;
                any floating dtype (computed in the model's parameter dtype).
            num_tokens: flexible-length tokenizers only: keep the first ``k`` tokens
                (codes ``(B, k, num_codebooks)``).
        """
        self.validate_input(x)
        k = self._check_num_tokens_arg(num_tokens)
        return self.quantizer.encode(self._encode_prefix(self._as_model_dtype(x), k))

    def detokenize(self, codes: Tensor) -> Tensor:
        """Reconstruction from codes ``(B, *token_shape, num_codebooks)`` (int64, 0-based).

        Flexible-length tokenizers accept any prefix ``codes[:, :k]``. Returns the input layout in
        the model's parameter dtype, values approximately in ``[-1, 1]`` (not clamped). Gradients
        flow to the decoder; wrap in ``torch.no_grad()`` for inference.
        """
        self.validate_codes(codes)
        quantized = self.quantizer.decode(codes)
        k = codes.shape[1] if self.flexible_length else None
        return self.decode(quantized, num_tokens=k)

    def forward(self, x: Tensor, num_tokens: int | None = None) -> TokenizerOutput:
        """Training path: encode, quantize (straight-through), decode.

        Args:
            x: input in this tokenizer's layout, float, values in ``[-1, 1]``; any floating dtype
                (converted to the model's parameter dtype, which the reconstruction has).
            num_tokens: flexible-length tokenizers: decode from the first ``k`` tokens. When None
                in training mode, ``sample_num_tokens()`` picks ``k``; in eval mode all tokens.
        """
        self.validate_input(x)
        x = self._as_model_dtype(x)
        k = self._check_num_tokens_arg(num_tokens)
        if k is None and self.flexible_length and self.training:
            k = self.sample_num_tokens()
        q = self.quantizer(self._encode_prefix(x, k))
        x_hat = self.decode(q.quantized, num_tokens=k)
        return TokenizerOutput(
            reconstruction=x_hat,
            quantizer=q,
            num_tokens=math.prod(q.codes.shape[1:-1]),
        )

    def _encode_prefix(self, x: Tensor, k: int | None) -> Tensor:
        """Latents of the first ``k`` tokens; flexible families get ``k`` so they can skip work
        (e.g. nested dropout runs the encoder with only ``k`` causal latent tokens)."""
        if k is None:
            return self.encode(x)
        return self.encode(x, num_tokens=k)[:, :k]

    # ------------------------------------------------------------------ validation
    @property
    def _label(self) -> str:
        name = self.architecture or type(self).__name__
        return f"tokenizer {name!r}"

    def validate_input(self, x: Tensor) -> None:
        """Raise TypeError/ValueError, naming expected vs got, unless ``x`` is a valid input."""
        layout, axes = self._input_layout()
        if not isinstance(x, Tensor):
            raise TypeError(
                f"{self._label}: expected a torch.Tensor {layout}, got {type(x).__name__}"
            )
        if not x.is_floating_point():
            raise TypeError(
                f"{self._label}: expected a floating-point {self.modality} tensor with values in "
                f"[-1, 1], got dtype {x.dtype}; convert it to float in [-1, 1] (uint8 pixels: "
                "x.float() / 127.5 - 1)."
            )
        self._check_device(x)
        if x.ndim != 2 + len(axes):
            raise ValueError(
                f"{self._label}: expected a {2 + len(axes)}-d {self.modality} tensor "
                f"{layout}, got shape {tuple(x.shape)}"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{self._label}: got an empty batch, shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self._label}: expected {self.in_channels} channels at dim 1 of {layout}, got "
                f"shape {tuple(x.shape)}"
                + (
                    self.layout_class().channels_last_hint
                    if x.shape[-1] == self.in_channels
                    else ""
                )
            )
        self._check_input_size(tuple(x.shape[2:]))
        if not self.check_inputs:
            return
        finite = torch.isfinite(x)
        if not finite.all():
            raise ValueError(
                f"{self._label}: input contains NaN or Inf ({int((~finite).sum())} of {x.numel()} "
                "values)"
            )
        lo, hi = float(x.detach().min()), float(x.detach().max())
        tol = self.range_tolerance
        if lo < -1 - tol or hi > 1 + tol:
            hint = " (looks like [0, 255]: use x / 127.5 - 1)" if hi > 2 else ""
            raise ValueError(
                f"{self._label}: expected values in [-1, 1], got values in [{lo:.4g}, {hi:.4g}]"
                f"{hint}"
            )

    @classmethod
    def layout_class(cls) -> type[Tokenizer]:
        """The class whose ``input_axes`` / ``input_layout`` / ``model_card_layout`` /
        ``channels_last_hint`` apply: ``cls`` when it declares them (through its family base),
        else the registered family base of its ``modality`` (a tokenizer subclassing
        :class:`Tokenizer` directly with ``modality = "image"``)."""
        if cls.input_axes and cls.input_layout:
            return cls
        family = _FAMILIES.get(cls.modality)
        if family is None:
            raise TypeError(
                f"{cls.__name__}: class attribute modality must be one of {sorted(_FAMILIES)}, "
                f"got {cls.modality!r} (or set input_axes and input_layout, as a family base "
                "such as ImageTokenizer does)"
            )
        return family

    @classmethod
    def _input_layout(cls) -> tuple[str, tuple[str, ...]]:
        """``(input_layout, input_axes)`` of the family."""
        family = cls.layout_class()
        return family.input_layout, tuple(family.input_axes)

    def smallest_input_size(self) -> tuple[int, ...]:
        """The smallest size per axis after the channels that this model runs on: the larger of
        ``min_input_size`` and ``input_multiple`` (the fixed ``input_size`` where there is one)."""
        _, axes = self._input_layout()
        if self.input_size is not None:
            return tuple(self.input_size)

        def per_axis(v: int | tuple[int, ...]) -> tuple[int, ...]:
            return (v,) * len(axes) if isinstance(v, int) else tuple(v)

        pairs = zip(per_axis(self.min_input_size), per_axis(self.input_multiple), strict=True)
        return tuple(max(a, b) for a, b in pairs)

    #: The explicit state of ``tokenize_stream`` / ``detokenize_stream`` (streaming families
    #: set it; it has a ``finished`` flag).
    stream_state_class: ClassVar[type | None] = None

    def _check_stream_state(self, state: Any) -> Any:
        """A new state for None; else ``state`` itself, checked to be this family's state and
        not finished."""
        cls = self.stream_state_class
        if cls is None:  # pragma: no cover - only streaming families call this
            raise TypeError(f"{type(self).__name__} sets no stream_state_class")
        if state is None:
            return cls()
        if not isinstance(state, cls):
            raise TypeError(
                f"{self._label}: state must be the {cls.__name__} returned by the previous call "
                f"(or None to start a stream), got {type(state).__name__}"
            )
        if state.finished:
            raise ValueError(
                f"{self._label}: this stream was finished with final=True; start a new one with "
                "state=None"
            )
        return state

    def _check_device(self, x: Tensor) -> None:
        """Meta tensors (shapes without data) and inputs on another device than the model."""
        if x.is_meta:
            raise ValueError(
                f"{self._label}: got a meta tensor of shape {tuple(x.shape)}, which has no data "
                "to tokenize; pass a real tensor (meta tensors only describe shapes)"
            )
        param = next(self.parameters(), None)
        if param is not None and not param.is_meta and x.device != param.device:
            raise ValueError(
                f"{self._label}: the input is on {x.device} and the model on {param.device}; move "
                f"one of them (x.to('{param.device}') or tokenizer.to('{x.device}'))"
            )

    def _model_dtype(self) -> torch.dtype:
        """The parameter dtype inputs are computed in (the default dtype for parameter-free
        models)."""
        param = next(self.parameters(), None)
        return torch.get_default_dtype() if param is None else param.dtype

    def _as_model_dtype(self, x: Tensor) -> Tensor:
        dtype = self._model_dtype()
        return x if x.dtype == dtype else x.to(dtype)

    def _check_input_size(self, sizes: tuple[int, ...]) -> None:
        """Check the size axes after the channel axis; override for other rules."""
        _, axes = self._input_layout()
        if self.input_size is not None:
            want = tuple(self.input_size)
            if sizes != want:
                raise ValueError(
                    f"{self._label}: expected {' x '.join(axes)} = {want}, got {sizes}; this "
                    f"model works at a fixed size: resize the input to {want}."
                )
            return
        mult = self.input_multiple
        mults = (mult,) * len(axes) if isinstance(mult, int) else tuple(mult)
        bad = [i for i, (s, m) in enumerate(zip(sizes, mults, strict=True)) if s % m]
        if bad:
            parts = []
            for i in bad:
                lower = sizes[i] // mults[i] * mults[i]
                options = [v for v in (lower, lower + mults[i]) if v > 0]
                parts.append(f"{axes[i]}: {' or '.join(map(str, options))}")
            raise ValueError(
                f"{self._label}: {'/'.join(axes)} must be multiples of {mults}, got {sizes}; "
                f"nearest valid sizes: {', '.join(parts)} (pad or crop the input)."
            )
        lows = self.smallest_input_size()
        if any(s < m for s, m in zip(sizes, lows, strict=True)):
            raise ValueError(
                f"{self._label}: {'/'.join(axes)} must be at least {lows}, got {sizes} (the "
                f"smallest input this architecture runs on); pad or resize the input."
            )

    def validate_codes(self, codes: Tensor) -> None:
        """Raise TypeError/ValueError unless ``codes`` has the layout ``detokenize`` expects.

        Any integer dtype is accepted (int64 from ``tokenize``; uint8/int16/... holding valid
        codes too). The value range is checked here when the family sets ``code_range_hint``
        (and ``check_inputs`` is on), else by the quantizer's ``decode``, in int64. Families
        adapt the checks through the hooks below (accepted codebook counts, token-grid rule).
        """
        want = self._codes_layout()
        check_integer_codes(codes, self._label, want)
        allowed = self._accepted_num_codebooks()
        if codes.ndim != 2 + len(self.token_shape()) or codes.shape[-1] not in allowed:
            raise ValueError(
                f"{self._label}: expected codes of shape {want}{self._codebooks_detail(allowed)}, "
                f"got {tuple(codes.shape)}{self._codes_shape_hint(codes, allowed)}"
            )
        if codes.shape[0] == 0:
            raise ValueError(
                f"{self._label}: got an empty batch of codes, shape {tuple(codes.shape)}"
            )
        self._check_token_grid(codes)
        if self.code_range_hint is not None and self.check_inputs:
            check_code_range(codes, self.codebook_size, self._label, self.code_range_hint)

    def _codes_layout(self) -> str:
        """The codes layout messages print, e.g. ``(B, 16, 16, 1)``."""
        return f"(B, {', '.join(self._token_axis_names())}, {self.num_codebooks})"

    def _accepted_num_codebooks(self) -> list[int]:
        """Sizes of the codebook axis :meth:`detokenize` accepts."""
        return [self.num_codebooks]

    def _codebooks_detail(self, allowed: list[int]) -> str:
        """Appended to the layout in the wrong-shape message (e.g. ``" with k in [2, 4]"``)."""
        return ""

    def _codes_shape_hint(self, codes: Tensor, allowed: list[int]) -> str:
        """A fix appended to the wrong-shape message, or ``""``."""
        return ""

    def _check_token_grid(self, codes: Tensor) -> None:
        """The token axes of well-shaped codes: at least one token along every axis, and a
        prefix of at most ``num_tokens`` for flexible-length tokenizers."""
        if 0 in codes.shape[1:-1]:
            raise ValueError(
                f"{self._label}: got an empty token grid, codes of shape {tuple(codes.shape)}; "
                "detokenize needs at least one token along every axis"
            )
        if self.flexible_length and not 1 <= codes.shape[1] <= self.num_tokens:
            raise ValueError(
                f"{self._label}: expected between 1 and {self.num_tokens} tokens, got "
                f"{codes.shape[1]} (codes shape {tuple(codes.shape)})"
            )

    def _token_axis_names(self) -> list[str]:
        shape = self.token_shape()
        if len(shape) == 1:
            return ["k" if self.flexible_length else str(shape[0])]
        return [str(s) for s in shape]

    def _resolve_num_tokens(self, num_tokens: int | None) -> int:
        k = self._check_num_tokens_arg(num_tokens)
        return self.num_tokens if k is None else k

    def _check_num_tokens_arg(self, num_tokens: int | None) -> int | None:
        if num_tokens is None:
            return None
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, int):
            raise TypeError(f"{self._label}: num_tokens must be an int or None, got {num_tokens!r}")
        if not self.flexible_length:
            if num_tokens == self.num_tokens:
                return None
            raise ValueError(
                f"{self._label}: num_tokens={num_tokens} needs a flexible-length tokenizer; this "
                f"one always uses {self.num_tokens} tokens (pass num_tokens=None)."
            )
        if not 1 <= num_tokens <= self.num_tokens:
            raise ValueError(
                f"{self._label}: num_tokens must lie in [1, {self.num_tokens}], got {num_tokens}"
            )
        return num_tokens

    # ------------------------------------------------------------------ Hub format
    def get_config(self) -> dict[str, Any]:
        """``{"architecture": name, **constructor args}``: what ``config.json`` holds.

        Raises ValueError when the architecture is unknown (object not built through the
        registry) or a constructor argument was not recorded.
        """
        if not self.architecture:
            raise ValueError(
                f"{type(self).__name__}: architecture is not set, so config.json could not name a "
                "registry entry; build tokenizers with zoo.create_tokenizer(name, ...) or set "
                "tok.architecture to the registry name."
            )
        args = dict(self._hub_mixin_config or {})
        params = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        missing = [p for p in params if p not in args]
        if missing:
            raise ValueError(
                f"{self._label}: constructor arguments {missing} were not recorded by the Hub "
                "mixin; pass JSON-able values (lists/dicts/numbers/strings) only."
            )
        return {"architecture": self.architecture, **{p: args[p] for p in params}}

    def save_pretrained(  # type: ignore[override]
        self,
        save_directory: str | Path,
        *,
        config: dict[str, Any] | None = None,
        repo_id: str | None = None,
        push_to_hub: bool = False,
        model_card_kwargs: dict[str, Any] | None = None,
        **push_to_hub_kwargs: Any,
    ) -> str | None:
        """Write ``model.safetensors`` + ``config.json`` + ``README.md`` into ``save_directory``.

        The save is atomic (:func:`zoo._io.atomic_dir`): the three files are written into a
        temporary sibling folder, which then takes the folder's place, so a failed or killed save
        leaves the previous save loadable, and a re-save replaces all three files, the model card
        included. Other files in the folder are left alone. ``push_to_hub=True`` then uploads it
        (to ``repo_id``, default the folder's name); see :meth:`push_to_hub`.
        """
        self.get_config()  # fail before touching anything
        with atomic_dir(save_directory) as tmp:
            super().save_pretrained(tmp, config=config, model_card_kwargs=model_card_kwargs)
        if not push_to_hub:
            return None
        kwargs = dict(push_to_hub_kwargs, **({"config": config} if config is not None else {}))
        repo_id = repo_id or Path(save_directory).name
        return self.push_to_hub(repo_id, model_card_kwargs=model_card_kwargs, **kwargs)

    def _save_pretrained(self, save_directory: Path) -> None:
        """Write ``model.safetensors`` and ``config.json`` (the mixin then writes README.md)."""
        config = self.get_config()  # fail before writing anything
        super()._save_pretrained(save_directory)
        (Path(save_directory) / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """Model card from ``model_cards/template.md``; see :func:`zoo.hub.render_model_card`.

        ``save_pretrained(..., model_card_kwargs={"eval_results": ..., "pretrained_cfg": ...})``
        forwards its keyword arguments here.
        """
        return _hub_function("render_model_card")(self, *args, **kwargs)

    def push_to_hub(  # type: ignore[override]
        self, repo_id: str, *, model_card_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> str:
        """Save to a temporary folder and upload it to the Hub repo ``repo_id`` ("org/name").

        Keyword arguments are those of ``PyTorchModelHubMixin.push_to_hub`` (``private``,
        ``token``, ``branch``, ``commit_message``, ...); the model card's usage snippet loads
        ``hf-hub:<repo_id>``.
        """
        card_kwargs = {"repo_id": repo_id, **(model_card_kwargs or {})}
        return super().push_to_hub(repo_id, model_card_kwargs=card_kwargs, **kwargs)

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        pretrained_model_name_or_path: str | Path,
        *,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        map_location: str | torch.device = "cpu",
        **overrides: Any,
    ) -> Tokenizer:
        """Load a tokenizer saved by ``save_pretrained`` from a local folder or a Hub repo.

        The model is rebuilt through the registry from ``config.json`` (``architecture`` plus
        constructor arguments, updated with ``overrides``) and ``model.safetensors`` is loaded
        strictly. Returned in eval mode. ``"org/repo"`` and ``"hf-hub:org/repo[@revision]"`` are
        both accepted; offline use reads the Hugging Face cache (``HF_HUB_OFFLINE=1``).
        """
        tok = _hub_function("load_from_folder_or_repo")(
            pretrained_model_name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
            map_location=map_location,
            overrides=overrides,
        )
        if not isinstance(tok, cls):
            raise TypeError(
                f"{cls.__name__}.from_pretrained({str(pretrained_model_name_or_path)!r}): the "
                f"saved architecture {tok.architecture!r} builds a {type(tok).__name__}, not a "
                f"{cls.__name__}; use zoo.load() or Tokenizer.from_pretrained()."
            )
        return tok

    def extra_repr(self) -> str:
        return (
            f"architecture={self.architecture!r}, modality={self.modality!r}, "
            f"num_tokens={getattr(self, 'num_tokens', None)}, "
            f"flexible_length={self.flexible_length}"
        )


def _check_init_signature(cls: type) -> None:
    """Constructor arguments must round-trip through config.json (see the module docstring)."""
    params = inspect.signature(cls.__init__).parameters
    for p in list(params.values())[1:]:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(
                f"{cls.__name__}.__init__ must not take *args/**kwargs ({p}): the Hub mixin would "
                "forward every config.json key into it and typos would vanish silently; list "
                "keyword-only, JSON-able arguments."
            )
        if p.name in (*RESERVED_CONFIG_KEYS, "config"):
            raise TypeError(
                f"{cls.__name__}.__init__: argument name {p.name!r} is reserved by config.json / "
                "the Hub mixin; rename it."
            )
