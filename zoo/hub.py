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

import importlib.resources
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from zoo.pretrained import (  # re-exported: zoo.hub is where users look for them
    PACKAGE_WEIGHTS_ROOT,
    _hub_download,
    conversion_cache_dir,
    load_pretrained_weights,
    load_state_dict_strict,
    load_weights_file,
    read_config,
)
from zoo.registry import (
    PretrainedCfg,
    create_tokenizer,
    get_pretrained_cfg,
    is_tokenizer,
    list_pretrained_tags,
    split_name_tag,
    unknown_name_message,
)
from zoo.tokenizers.base import (
    CONFIG_NAME,
    RESERVED_CONFIG_KEYS,
    WEIGHTS_NAME,
    Tokenizer,
    register_hub_functions,
)

__all__ = [
    "HF_HUB_PREFIX",
    "PACKAGE_WEIGHTS_ROOT",
    "build_from_config",
    "conversion_cache_dir",
    "load",
    "load_folder",
    "load_from_folder_or_repo",
    "load_pretrained_weights",
    "load_state_dict_strict",
    "load_weights_file",
    "model_card_template",
    "parse_hf_hub_id",
    "read_config",
    "render_model_card",
]

HF_HUB_PREFIX = "hf-hub:"
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
        input_layout=_card_layout(tokenizer),
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


def _card_layout(tokenizer: Tokenizer) -> str:
    try:
        family = tokenizer.layout_class()
    except TypeError:
        return "?"
    return family.model_card_layout or family.input_layout


def _looks_like_path(s: str) -> bool:
    return (
        s.startswith((".", "~", "/")) or os.sep in s or (os.altsep is not None and os.altsep in s)
    )


# Tokenizer.from_pretrained and Tokenizer.generate_model_card reach this layer through these.
register_hub_functions(
    load_from_folder_or_repo=load_from_folder_or_repo, render_model_card=render_model_card
)
