"""Weight resolution, the Hub format, and model cards.

The Hub format of a tokenizer is a folder (local, in the package, or a Hugging Face repo) with

- ``model.safetensors``: the state dict (never a pickle);
- ``config.json``: ``{"architecture": <registry name>, <constructor args>...}`` -- a registry
  entry, never an import path, so renaming a module never breaks published weights;
- ``README.md``: a model card rendered from ``model_cards/template.md``.

:func:`load` (``zoo.load``) is the front door. It takes

- a registry name with tag, ``"titok_l32.in1k_256"`` (or without tag: the default tag), whose
  :class:`~zoo.registry.PretrainedCfg` says where the weights are: package data
  (``zoo/weights/<folder>/``), a Hub repo in this format, or an upstream checkpoint plus converter;
- a local folder written by ``save_pretrained``;
- ``"hf-hub:org/repo"`` or ``"hf-hub:org/repo@revision"``, through ``huggingface_hub`` (offline
  from the HF cache with ``HF_HUB_OFFLINE=1``).

A registry name also takes ``checkpoint_path=``: the tag's weights from a local file or folder
(the upstream checkpoint exactly as published, for tags with a converter). Converted upstream
checkpoints are cached in this format (:func:`conversion_cache_dir`).

Weights always load strictly: missing or unexpected keys are an error that names them.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import safetensors.torch
import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HFValidationError
from safetensors import SafetensorError
from torch import Tensor

from zoo._io import atomic_file, refuse_urls
from zoo.registry import (
    PretrainedCfg,
    create_tokenizer,
    get_pretrained_cfg,
    is_tokenizer,
    list_pretrained_tags,
    split_name_tag,
    unknown_name_message,
)
from zoo.tokenizers.base import CONFIG_NAME, RESERVED_CONFIG_KEYS, WEIGHTS_NAME, Tokenizer

HF_HUB_PREFIX = "hf-hub:"
#: Root of the weights shipped as package data (``PretrainedCfg.package_weights`` folders).
PACKAGE_WEIGHTS_ROOT = Path(__file__).resolve().parent / "weights"
#: The model card template, shipped inside the package (identical to model_cards/template.md).
MODEL_CARD_TEMPLATE = "model_card_template.md"

# Hub licence identifiers we use; anything else is published as license "other" + license_name.
_HUB_LICENSES = {"apache-2.0", "mit", "bsd-3-clause", "cc-by-4.0", "cc-by-nc-4.0", "cc-by-sa-4.0"}


# ---------------------------------------------------------------------------------------- load
def load(
    name_or_path: str | os.PathLike,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    **overrides: Any,
) -> Tokenizer:
    """Load a pretrained tokenizer (eval mode) by registry name, local folder or ``hf-hub:`` id.

    Args:
        name_or_path: ``"family_variant.tag"`` (``"family_variant"`` uses the default tag), a
            folder written by ``save_pretrained``, or ``"hf-hub:org/repo[@revision]"``.
        checkpoint_path: registry names only: read the tag's weights from this local file or
            folder instead of the network, e.g. the upstream ``vq_ds16_c2i.pt`` or a transformers
            ``save_pretrained`` folder exactly as published. Upstream checkpoints are converted
            once and cached (see :func:`conversion_cache_dir`); later loads read the cache.
        overrides: constructor arguments replacing the saved/registered ones (shape-changing
            overrides make the strict weight load fail).

    For random initialisation use :func:`zoo.create_tokenizer`.
    """
    if checkpoint_path is not None:
        if not isinstance(name_or_path, str) or not is_tokenizer(name_or_path):
            raise ValueError(
                f"zoo.load({str(name_or_path)!r}, checkpoint_path=...): checkpoint_path goes with "
                "a registered name ('family_variant.tag'), which says how to read the file; "
                f"{unknown_name_message(str(name_or_path))}"
            )
        get_pretrained_cfg(name_or_path)
        return create_tokenizer(
            name_or_path, pretrained=True, checkpoint_path=checkpoint_path, **overrides
        )
    if isinstance(name_or_path, os.PathLike):
        return load_folder(name_or_path, overrides=overrides)
    if not isinstance(name_or_path, str):
        raise TypeError(f"zoo.load: expected a str or path, got {type(name_or_path).__name__}")
    s = name_or_path
    if s.startswith(HF_HUB_PREFIX):
        repo_id, revision = parse_hf_hub_id(s)
        return load_from_folder_or_repo(repo_id, revision=revision, overrides=overrides)
    if os.path.isdir(s):
        return load_folder(s, overrides=overrides)
    if _looks_like_path(s):
        hint = f"; for a Hub repo write 'hf-hub:{s}'" if s.count("/") == 1 else ""
        raise FileNotFoundError(f"zoo.load({s!r}): no such folder{hint}")
    if not is_tokenizer(s):
        raise ValueError(
            f"zoo.load({s!r}): not a local folder and not a registered name; "
            f"{unknown_name_message(s)} Hub repos are written 'hf-hub:org/repo'."
        )
    get_pretrained_cfg(s)  # clear error for an unknown tag or a name without weights
    return create_tokenizer(s, pretrained=True, **overrides)


def parse_hf_hub_id(s: str) -> tuple[str, str | None]:
    """``"hf-hub:org/repo@rev" -> ("org/repo", "rev")``; the revision is optional."""
    body = s[len(HF_HUB_PREFIX) :] if s.startswith(HF_HUB_PREFIX) else s
    repo_id, sep, revision = body.partition("@")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")) or (sep and not revision):
        raise ValueError(f"expected 'hf-hub:org/repo' or 'hf-hub:org/repo@revision', got {s!r}")
    return repo_id, (revision or None)


def load_folder(
    folder: str | os.PathLike,
    *,
    map_location: str | torch.device = "cpu",
    overrides: Mapping[str, Any] | None = None,
) -> Tokenizer:
    """Rebuild a tokenizer from a ``save_pretrained`` folder via the registry; strict weights."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"tokenizer folder {str(folder)!r} does not exist")
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"tokenizer folder {str(folder)!r} is missing {', '.join(missing)} (a save_pretrained "
            f"folder holds {CONFIG_NAME} and {WEIGHTS_NAME})"
        )
    tok = build_from_config(read_config(folder / CONFIG_NAME), overrides, source=str(folder))
    load_weights_file(tok, folder / WEIGHTS_NAME)
    return tok.to(map_location).eval()


def load_from_folder_or_repo(
    name: str | os.PathLike,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    token: str | bool | None = None,
    map_location: str | torch.device = "cpu",
    overrides: Mapping[str, Any] | None = None,
) -> Tokenizer:
    """A local folder, else a Hub repo id (``org/repo`` or ``hf-hub:org/repo[@rev]``)."""
    if os.path.isdir(name):
        return load_folder(name, map_location=map_location, overrides=overrides)
    name = str(name)
    repo_id, rev = parse_hf_hub_id(name)
    revision = revision or rev
    kw = dict(
        repo_id=repo_id,
        revision=revision,
        cache_dir=cache_dir,
        force_download=force_download,
        local_files_only=local_files_only,
        token=token,
        library_name="tokenizer-zoo",
    )
    where = f"hf-hub:{repo_id}" + (f"@{revision}" if revision else "")
    config_path = _hub_download(filename=CONFIG_NAME, where=where, **kw)
    tok = build_from_config(read_config(config_path), overrides, source=where)
    load_weights_file(tok, _hub_download(filename=WEIGHTS_NAME, where=where, **kw))
    return tok.to(map_location).eval()


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


def build_from_config(
    config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None, *, source: str = ""
) -> Tokenizer:
    """``create_tokenizer(config["architecture"], **args, **overrides)`` (random weights)."""
    arch = config["architecture"]
    if not isinstance(arch, str) or not is_tokenizer(arch) or split_name_tag(arch)[1] is not None:
        raise ValueError(
            f"{source}: config.json names architecture {arch!r}, which this version of "
            f"tokenizer-zoo does not know. {unknown_name_message(str(arch))}"
        )
    args = {k: v for k, v in config.items() if k not in RESERVED_CONFIG_KEYS}
    args.update(overrides or {})
    try:
        return create_tokenizer(arch, **args)
    except _BUILD_ERRORS as err:
        # An edited or foreign config.json reaches constructors with values of any type: name
        # the file (and the overrides) rather than leave a bare error from deep in a layer.
        given = f" and the overrides {sorted(overrides)}" if overrides else ""
        cls = TypeError if isinstance(err, TypeError) else ValueError
        raise cls(
            f"{source}: cannot build {arch!r} from the arguments in its {CONFIG_NAME}{given}: "
            f"{type(err).__name__}: {err}; was the file edited, or written by another version "
            "of tokenizer-zoo?"
        ) from err


#: What constructors raise on arguments of the wrong type or range (build_from_config).
_BUILD_ERRORS = (
    TypeError,
    ValueError,
    AttributeError,
    KeyError,
    IndexError,
    RuntimeError,
    ZeroDivisionError,
    OverflowError,
    AssertionError,
)


# ---------------------------------------------------------------------------------------- weights
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
    from zoo import __version__

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


# ---------------------------------------------------------------------------------------- cards
def model_card_template() -> str:
    """The Jinja model card template (package data, so installed packages find it too)."""
    return importlib.resources.files("zoo").joinpath(MODEL_CARD_TEMPLATE).read_text("utf-8")


def render_model_card(
    tokenizer: Tokenizer,
    pretrained_cfg: PretrainedCfg | None = None,
    eval_results: Any = None,
    **fields: Any,
) -> ModelCard:
    """Render the model card of ``tokenizer`` from ``model_cards/template.md``.

    Args:
        tokenizer: built through the registry (its ``config.json`` is shown).
        pretrained_cfg: licence, paper, training data and metrics; defaults to
            ``tokenizer.pretrained_cfg``.
        eval_results: measured results for ``model-index``: a list of ``EvalResult``, or a dict /
            list of dicts ``{"dataset": str, "metrics": {name: value}, "split": str (optional),
            "dataset_type": str (optional, Hub dataset id)}``. Defaults to
            ``pretrained_cfg.metrics`` on ``pretrained_cfg.metrics_dataset``.
        fields: template fields: ``model_name``, ``repo_id`` (the usage snippet then loads
            ``hf-hub:<repo_id>``), ``load_id``, ``description``, ``license``, ``tags``,
            ``datasets``, ``citation``, ...
    """
    cfg = pretrained_cfg if pretrained_cfg is not None else tokenizer.pretrained_cfg
    config = tokenizer.get_config()
    arch = config["architecture"]
    tag = None
    if cfg is not None and is_tokenizer(arch):
        tags = [
            t for t in list_pretrained_tags(arch) if get_pretrained_cfg(f"{arch}.{t}")[1] is cfg
        ]
        tag = tags[0] if tags else None
    registry_name = f"{arch}.{tag}" if tag else arch
    model_name = fields.pop("model_name", None) or fields.get("repo_id") or registry_name
    results = _eval_results(eval_results, cfg, tokenizer.modality, model_name)
    license_id = fields.pop("license", None) or (cfg.license if cfg else None)
    lic: dict[str, Any] = {}
    if license_id:
        if license_id.lower() in _HUB_LICENSES:
            lic["license"] = license_id.lower()
        else:
            lic.update(license="other", license_name=license_id)
    datasets = list(
        fields.pop("datasets", None) or ([cfg.training_data] if cfg and cfg.training_data else [])
    )
    tags = ["tokenizer-zoo", "tokenizer", tokenizer.modality, arch.split("_")[0]]
    tags += [t for t in fields.pop("tags", []) if t not in tags]
    card_data = ModelCardData(
        library_name="tokenizer-zoo",
        tags=tags,
        datasets=datasets or None,
        model_name=model_name,
        eval_results=results or None,
        **lic,
    )
    repo_id = fields.get("repo_id")
    load_id = fields.pop("load_id", None)
    if load_id is None and repo_id:
        load_id = f"hf-hub:{repo_id}"
    if load_id is None:
        load_id = registry_name if tag else "path/to/folder"
    layout = {"image": "(B, 3, H, W)", "video": "(B, 3, T, H, W)", "audio": "(B, C, samples)"}
    token_shape = tokenizer.token_shape()
    rows = [
        {
            "dataset": r.dataset_name,
            "split": r.dataset_split or "",
            "metric": r.metric_name or r.metric_type,
            "value": f"{r.metric_value:.4g}"
            if isinstance(r.metric_value, float)
            else r.metric_value,
        }
        for r in results
    ]
    values = dict(
        model_name=model_name,
        architecture=arch,
        modality=tokenizer.modality,
        load_id=load_id,
        input_layout=layout.get(tokenizer.modality, "?"),
        codes_layout=f"(B, {', '.join(map(str, token_shape))}, {tokenizer.num_codebooks})",
        value_range=list(cfg.value_range) if cfg else [-1.0, 1.0],
        resolution=cfg.resolution if cfg else None,
        sample_rate=cfg.sample_rate if cfg else None,
        num_tokens=getattr(tokenizer, "num_tokens", None),
        flexible_length=tokenizer.flexible_length,
        token_shape=token_shape,
        codebook_size=tokenizer.codebook_size,
        num_codebooks=tokenizer.num_codebooks,
        bits_per_item=f"{tokenizer.bits_per_item():g}",
        quantizer=type(tokenizer.quantizer).__name__,
        eval_rows=rows,
        training_data=cfg.training_data if cfg else None,
        paper=cfg.paper if cfg else None,
        license_text=license_id,
        notes=cfg.notes if cfg else None,
        config_json=json.dumps(config, indent=2),
    )
    values.update(fields)
    return ModelCard.from_template(card_data, template_str=model_card_template(), **values)


def _eval_results(
    eval_results: Any, cfg: PretrainedCfg | None, modality: str, model_name: str
) -> list[EvalResult]:
    task = f"{modality}-to-{modality}"
    if eval_results is None:
        if cfg is None or not cfg.metrics:
            return []
        eval_results = {"dataset": cfg.metrics_dataset or "unspecified", "metrics": cfg.metrics}
    if isinstance(eval_results, Mapping):
        eval_results = [eval_results]
    out: list[EvalResult] = []
    for item in eval_results:
        if isinstance(item, EvalResult):
            out.append(item)
            continue
        if not isinstance(item, Mapping) or "dataset" not in item or "metrics" not in item:
            raise ValueError(
                f"render_model_card({model_name!r}): eval results must be EvalResult objects or "
                f"dicts with 'dataset' and 'metrics' keys, got {item!r}"
            )
        for metric, value in item["metrics"].items():
            out.append(
                EvalResult(
                    task_type=task,
                    task_name=f"{modality.capitalize()} reconstruction",
                    dataset_type=item.get("dataset_type") or item["dataset"],
                    dataset_name=item["dataset"],
                    dataset_split=item.get("split"),
                    metric_type=metric.lower(),
                    metric_name=metric,
                    metric_value=float(value),
                )
            )
    return out


def _looks_like_path(s: str) -> bool:
    return (
        s.startswith((".", "~", "/")) or os.sep in s or (os.altsep is not None and os.altsep in s)
    )
