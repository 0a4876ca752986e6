"""Pretrained weights: where a tag's weights live (:class:`PretrainedCfg`) and how they load.

Weights come from package data (``zoo/weights/<folder>/``), a Hub repo in this project's format,
or an upstream checkpoint plus its converter (converted once, then cached in this format, see
:func:`conversion_cache_dir`). Weights always load strictly: missing or unexpected keys are an
error that names them.

This module sits below :mod:`zoo.registry` (which attaches a :class:`PretrainedCfg` to each tag
and loads it in ``create_tokenizer(..., pretrained=True)``) and :mod:`zoo.hub` (the ``zoo.load``
front door and model cards), and above :mod:`zoo.tokenizers.base`.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import safetensors.torch
import torch
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HFValidationError
from safetensors import SafetensorError
from torch import Tensor

from zoo._io import atomic_file, refuse_urls
from zoo._version import __version__
from zoo.tokenizers.base import CONFIG_NAME, WEIGHTS_NAME, Tokenizer

#: Root of the weights shipped as package data (``PretrainedCfg.package_weights`` folders).
PACKAGE_WEIGHTS_ROOT = Path(__file__).resolve().parent / "weights"


#: Converter of an upstream checkpoint: ``(checkpoint_path, tokenizer) -> our state dict``.
#: It reads the upstream file (``torch.load(..., weights_only=True)``, safetensors, ...), renames
#: and reshapes tensors for the freshly built ``tokenizer`` and returns them; loading is strict.
Converter = Callable[[str, Tokenizer], dict[str, Tensor]]


@dataclass(frozen=True)
class PretrainedCfg:
    """Where a tag's weights live and what is known about them (not architecture arguments).

    Weight location, first match wins:
        package_weights: folder name under ``zoo/weights/`` holding ``model.safetensors`` and
            ``config.json`` (small weights shipped with the package; work offline).
        converter: upstream checkpoint to convert on load: a callable
            ``(checkpoint_path, tokenizer) -> state_dict`` or the name of such a function in the
            variant's module. The checkpoint is ``filename`` in the Hub repo ``hub_id`` at
            ``revision``, or the file at ``url`` (downloaded once into the torch hub cache and
            checked against ``sha256`` when given).
        hub_id: a Hub repo in this project's format (``model.safetensors`` + ``config.json``) at
            ``revision``; ``filename`` overrides the weights file name.

    Metadata (shown in model cards and ``zoo.load`` errors):
        license, paper (URL or citation), training_data, value_range of the input the weights
        expect, resolution (image/video side or (H, W)), sample_rate (audio, Hz),
        metrics (measured, e.g. ``{"rfid": 2.21, "psnr": 21.9}``) on ``metrics_dataset``, notes.
    """

    hub_id: str | None = None
    revision: str | None = None
    filename: str | None = None
    package_weights: str | None = None
    converter: Converter | str | None = None
    url: str | None = None
    sha256: str | None = None
    license: str | None = None
    paper: str | None = None
    training_data: str | None = None
    value_range: tuple[float, float] = (-1.0, 1.0)
    resolution: int | tuple[int, ...] | None = None
    sample_rate: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    metrics_dataset: str | None = None
    notes: str | None = None

    def __post_init__(self) -> None:
        if self.package_weights is None and self.hub_id is None and self.url is None:
            raise ValueError(
                "PretrainedCfg: set package_weights, hub_id, or url (with a converter) so the "
                "weights can be found"
            )
        if self.url is not None and self.converter is None:
            raise ValueError(f"PretrainedCfg(url={self.url!r}): an upstream url needs a converter")
        if self.converter is not None and self.url is None and not self.filename:
            raise ValueError(
                f"PretrainedCfg(hub_id={self.hub_id!r}): a converter needs the upstream "
                "checkpoint's filename in that repo"
            )


def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """Parse a tokenizer ``config.json``; errors name the file."""
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(path)!r} is not valid JSON: {err}") from err
    except UnicodeDecodeError as err:
        raise ValueError(f"{str(path)!r} is not UTF-8 text (so not JSON): {err}") from err
    if not isinstance(config, dict) or "architecture" not in config:
        keys = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise ValueError(
            f"{str(path)!r} has no 'architecture' key (got {keys}); it was not written by "
            "tokenizer-zoo's save_pretrained"
        )
    return config


def load_weights_file(tok: Tokenizer, path: str | os.PathLike) -> None:
    """Load ``model.safetensors`` into ``tok`` strictly (tied weights handled by safetensors)."""
    try:
        missing, unexpected = safetensors.torch.load_model(tok, str(path), strict=False)
    except SafetensorError as err:  # garbled, truncated, or not safetensors at all
        raise ValueError(
            f"{tok._label}: cannot read weights {str(path)!r}: {err} (not a safetensors file, or "
            "a truncated or damaged one)"
        ) from err
    except RuntimeError as err:  # shape mismatches
        raise ValueError(f"{tok._label}: weights in {str(path)!r} do not fit: {err}") from err
    _raise_on_key_mismatch(tok, missing, unexpected, str(path))


def load_state_dict_strict(tok: Tokenizer, state_dict: Mapping[str, Tensor], source: str) -> None:
    """``tok.load_state_dict`` that names missing/unexpected keys and shape mismatches."""
    bad = [k for k, v in state_dict.items() if not isinstance(v, Tensor)]
    if bad:
        raise TypeError(f"{source}: state dict values must be tensors; not tensors: {bad[:10]}")
    try:
        result = tok.load_state_dict(dict(state_dict), strict=False)
    except RuntimeError as err:
        raise ValueError(f"{tok._label}: weights from {source} do not fit: {err}") from err
    _raise_on_key_mismatch(tok, result.missing_keys, result.unexpected_keys, source)


def _raise_on_key_mismatch(
    tok: Tokenizer, missing: Sequence[str], unexpected: Sequence[str], source: str
) -> None:
    if not missing and not unexpected:
        return

    def show(keys: Sequence[str]) -> str:
        keys = sorted(keys)
        more = f" ... ({len(keys) - 20} more)" if len(keys) > 20 else ""
        return ", ".join(keys[:20]) + more

    parts = []
    if missing:
        parts.append(f"missing keys ({len(missing)}): {show(missing)}")
    if unexpected:
        parts.append(f"unexpected keys ({len(unexpected)}): {show(unexpected)}")
    raise ValueError(
        f"{tok._label}: weights from {source} do not match the model: {'; '.join(parts)}. The "
        "architecture arguments (config.json / overrides) must match the ones the weights were "
        "trained with."
    )


def load_pretrained_weights(
    tok: Tokenizer,
    cfg: PretrainedCfg,
    *,
    name: str,
    module: ModuleType | None = None,
    checkpoint_path: str | os.PathLike | None = None,
) -> None:
    """Fill ``tok`` with the weights ``cfg`` describes (see :class:`PretrainedCfg`), strictly.

    ``module`` is the variant's module, where a converter given by name is looked up.
    ``checkpoint_path`` (a local file or folder) replaces the download: the upstream checkpoint
    for a tag with a converter, else weights in this project's format. A converted checkpoint is
    written to the conversion cache in this project's format and read from there next time.
    """
    if checkpoint_path is not None:
        local = Path(refuse_urls(checkpoint_path, f"{name}: checkpoint_path"))
        if not local.exists():
            raise FileNotFoundError(f"{name}: checkpoint_path {str(local)!r} does not exist")
        if cfg.converter is None:
            load_weights_file(tok, local / WEIGHTS_NAME if local.is_dir() else local)
            return
    if cfg.package_weights is not None and checkpoint_path is None:
        folder = PACKAGE_WEIGHTS_ROOT / cfg.package_weights
        missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / n).is_file()]
        if missing:
            raise FileNotFoundError(
                f"{name}: package weights folder {str(folder)!r} is missing {', '.join(missing)}; "
                "reinstall tokenizer-zoo or check the package-data settings."
            )
        saved = read_config(folder / CONFIG_NAME)["architecture"]
        if saved != tok.architecture:
            raise ValueError(
                f"{name}: {str(folder / CONFIG_NAME)!r} names architecture {saved!r}, expected "
                f"{tok.architecture!r}"
            )
        load_weights_file(tok, folder / WEIGHTS_NAME)
        return
    if cfg.converter is not None:
        converter = cfg.converter
        if isinstance(converter, str):
            if module is None or not callable(getattr(module, converter, None)):
                where = module.__name__ if module is not None else "the variant's module"
                raise ValueError(f"{name}: converter {converter!r} is not a function in {where}")
            converter = getattr(module, converter)
        path = str(local) if checkpoint_path is not None else _upstream_checkpoint(cfg, name)
        cached = _conversion_cache_file(name, converter, path, tok)
        if cached is not None and cached.is_file():
            try:
                load_weights_file(tok, cached)
                return
            except Exception as err:  # a stale or damaged cache entry: convert again
                warnings.warn(
                    f"{name}: ignoring the cached conversion {str(cached)!r} ({err}); converting "
                    f"{path!r} again",
                    stacklevel=2,
                )
        state_dict = converter(path, tok)
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{name}: converter returned {type(state_dict).__name__}, not a dict")
        load_state_dict_strict(tok, state_dict, source=f"{name} (converted from {path!r})")
        if cached is not None:
            _write_conversion_cache(tok, cached, name=name, source=path)
        return
    assert cfg.hub_id is not None  # PretrainedCfg.__post_init__ guarantees a location
    where = f"hf-hub:{cfg.hub_id}" + (f"@{cfg.revision}" if cfg.revision else "")
    path = _hub_download(
        repo_id=cfg.hub_id,
        filename=cfg.filename or WEIGHTS_NAME,
        revision=cfg.revision,
        where=f"{name} ({where})",
        library_name="tokenizer-zoo",
    )
    load_weights_file(tok, path)


def conversion_cache_dir() -> Path:
    """Where converted upstream checkpoints are cached: ``$ZOO_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/tokenizer-zoo``, else ``~/.cache/tokenizer-zoo`` (``converted/`` inside)."""
    root = os.environ.get("ZOO_CACHE_DIR")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "tokenizer-zoo")
    return Path(root) / "converted"


def _fingerprint(path: Path) -> list[tuple[str, int, int]]:
    """``(path, size, mtime)`` of the checkpoint file, or of every file in the folder."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]


def _conversion_cache_file(name: str, converter: Any, path: str, tok: Tokenizer) -> Path | None:
    """Cache entry of ``converter(path)`` for ``tok``: keyed by the source files (path, size,
    mtime), the converter, the architecture arguments and the package version; None (no
    caching) for a tokenizer built outside the registry, whose arguments are unknown."""
    try:
        config = tok.get_config()
    except ValueError:
        return None
    key = json.dumps(
        {
            "name": name,
            "converter": f"{converter.__module__}.{getattr(converter, '__qualname__', converter)}",
            "source": _fingerprint(Path(path)),
            "config": config,
            "version": __version__,
        },
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return conversion_cache_dir() / name / digest / WEIGHTS_NAME


def _write_conversion_cache(tok: Tokenizer, cached: Path, *, name: str, source: str) -> None:
    try:
        with atomic_file(cached) as tmp:
            safetensors.torch.save_model(tok, str(tmp), metadata={"converted_from": source})
    except OSError as err:  # a read-only cache only costs a conversion next time
        warnings.warn(
            f"{name}: could not cache the converted weights at {str(cached)!r}: {err}",
            stacklevel=3,
        )


def _upstream_checkpoint(cfg: PretrainedCfg, name: str) -> str:
    if cfg.url is None:
        assert cfg.hub_id is not None and cfg.filename is not None
        try:
            return _hub_download(
                repo_id=cfg.hub_id,
                filename=cfg.filename,
                revision=cfg.revision,
                where=f"{name} (upstream hf-hub:{cfg.hub_id})",
            )
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"{err} With the upstream file at hand: zoo.load({name!r}, "
                f"checkpoint_path='path/to/{cfg.filename.rsplit('/', 1)[-1]}')."
            ) from err
    dst = Path(torch.hub.get_dir()) / "checkpoints" / (cfg.filename or cfg.url.rsplit("/", 1)[-1])
    if not dst.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            torch.hub.download_url_to_file(cfg.url, str(dst), progress=False)
        except OSError as err:
            raise OSError(
                f"{name}: could not download the upstream checkpoint {cfg.url!r} ({err}); "
                f"download it by hand to {str(dst)!r}."
            ) from err
    if cfg.sha256 is not None:
        digest = hashlib.sha256(dst.read_bytes()).hexdigest()
        if not digest.startswith(cfg.sha256):
            raise ValueError(
                f"{name}: {str(dst)!r} has sha256 {digest}, expected {cfg.sha256}; delete it and "
                "download again"
            )
    return str(dst)


def _hub_download(*, where: str, **kwargs: Any) -> str:
    try:
        return hf_hub_download(**kwargs)
    except (EntryNotFoundError, OSError, HFValidationError) as err:
        from huggingface_hub import constants

        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        raise FileNotFoundError(
            f"{where}: could not get {kwargs['filename']!r} from the Hub or the local cache "
            f"{str(kwargs.get('cache_dir') or constants.HF_HUB_CACHE)!r}{offline}: "
            f"{type(err).__name__}: {err}. Download it while online (`hf download "
            f"{kwargs['repo_id']}`) or pass a local folder."
        ) from err
