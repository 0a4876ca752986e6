"""What every result file records, and the checks that it does.

A reconstruction result (``schema`` :data:`RECONSTRUCTION_SCHEMA`) is a JSON object with

- ``tokenizer``: the name it was loaded by, architecture, ``config.json`` content and its sha256,
  sha256 of the weights (state dict), token layout and bit accounting;
- ``data``: the source, sample count, the manifest (every image's name, sha256 of the file bytes
  and original size) with one sha256 over it, and every skipped file with the reason;
- ``protocol``: resolution, resize/crop rule, value range fed to the tokenizer, the PNG round trip
  (8-bit quantization of reconstructions before measuring), batch size, token counts;
- ``metrics``: for every metric, its implementation, settings, feature weights and their sha256;
- ``results``: per token count, bits per image / pixel, metric values, codebook statistics;
- ``environment``: zoo / torch / torchmetrics / torch-fidelity / Python versions, platform and
  device; ``wall_time_s``, ``created`` (UTC) and the ``command`` line.

Audio results (``modality: "audio"``, see :mod:`.audio`) keep this layout with the audio format
in place of the image geometry: ``protocol`` holds sample rate, channels, channel rule, crop,
resampler and the evaluated codebook counts; ``data`` the total duration; every entry of
``results`` a codebook count with its nominal and measured bitrate in kbps.

:data:`COMMON_REQUIRED_FIELDS` lists the dotted paths every reconstruction result holds; each
evaluator adds those of its modality (``REQUIRED_FIELDS`` of :mod:`.image`,
``AUDIO_REQUIRED_FIELDS`` of :mod:`.audio`) and checks them with ``Evaluator.validate``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import platform
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from zoo._io import atomic_write_json

RECONSTRUCTION_SCHEMA = "tokenizer-zoo/reconstruction/v1"
RATE_DISTORTION_SCHEMA = "tokenizer-zoo/rate-distortion/v1"

#: The dotted paths every reconstruction result holds, whatever its modality; each evaluator adds
#: its own (``Evaluator.required_fields``: the image geometry, the audio format, ...).
COMMON_REQUIRED_FIELDS = (
    "schema",
    "modality",
    "tokenizer.name",
    "tokenizer.architecture",
    "tokenizer.config",
    "tokenizer.config_sha256",
    "tokenizer.weights_sha256",
    "tokenizer.codebook_size",
    "tokenizer.num_codebooks",
    "data.source",
    "data.num_samples",
    "data.manifest",
    "data.manifest_sha256",
    "data.skipped",
    "metrics",
    "results",
    "environment.zoo_version",
    "environment.torch_version",
    "environment.device",
    "wall_time_s",
    "created",
    "command",
)


def result_modality(result: dict[str, Any]) -> str:
    """The modality of a result file (files written before audio existed hold images)."""
    return result.get("modality", "image")


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(obj, dict) or part not in obj:
            raise KeyError(dotted)
        obj = obj[part]
    return obj


def validate_result(
    result: dict[str, Any],
    *,
    source: str = "result",
    required: tuple[Sequence[str], Sequence[str]] | None = None,
) -> None:
    """Raise ValueError listing every missing protocol field of a reconstruction result:
    ``required = (dotted paths, fields of each results entry)``, by default the common ones
    (``Evaluator.validate`` passes those of its modality)."""
    if not isinstance(result, dict):
        raise ValueError(f"{source}: expected a JSON object, got {type(result).__name__}")
    if result.get("schema") != RECONSTRUCTION_SCHEMA:
        raise ValueError(
            f"{source}: schema is {result.get('schema')!r}, expected {RECONSTRUCTION_SCHEMA!r} "
            "(a file written by eval/reconstruct.py)"
        )
    fields, result_fields = required or (COMMON_REQUIRED_FIELDS, ("metrics", "codebook"))
    missing = []
    for path in fields:
        try:
            _get(result, path)
        except KeyError:
            missing.append(path)
    for i, entry in enumerate(result.get("results") or []):
        missing += [f"results[{i}].{k}" for k in result_fields if k not in entry]
    if not result.get("results"):
        missing.append("results (empty)")
    if missing:
        raise ValueError(f"{source}: missing protocol fields: {', '.join(missing)}")


def load_result(path: str | Path) -> dict[str, Any]:
    """Read a result JSON file (reconstruction or rate-distortion); errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"result file {str(path)!r} does not exist") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"{str(path)!r} is not valid JSON: {err}") from err
    return data


# --------------------------------------------------------------------------- hashing
def sha256_json(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys, no whitespace)."""
    return hashlib.sha256(
        json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def state_dict_sha256(module: torch.nn.Module) -> str:
    """sha256 over the sorted parameter/buffer names, dtypes, shapes and bytes of a state dict."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


# --------------------------------------------------------------------------- environment
def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed versions of Python distributions (None when absent)."""
    return {n: _version(n) for n in names}


def environment_info(device: torch.device) -> dict[str, Any]:
    """Versions, platform and device of this run."""
    import zoo

    dev = str(device)
    if device.type == "cuda":
        dev += f" ({torch.cuda.get_device_name(device)})"
    return {
        "zoo_version": zoo.__version__,
        "torch_version": torch.__version__,
        "torchmetrics_version": _version("torchmetrics"),
        "torch_fidelity_version": _version("torch-fidelity"),
        "pillow_version": _version("pillow"),
        "python_version": sys.version.split()[0],
        "platform": platform.platform(),
        "device": dev,
        "num_threads": torch.get_num_threads(),
    }


def utc_now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


# --------------------------------------------------------------------------- JSON output
def to_jsonable(obj: Any) -> Any:
    """Tensors/numpy scalars to Python numbers; non-finite floats to the strings "inf", "-inf",
    "nan" (strict JSON has no such numbers)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return to_jsonable(obj.item() if obj.numel() == 1 else obj.tolist())
    if hasattr(obj, "item") and callable(obj.item) and not isinstance(obj, str):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj


def as_float(value: Any) -> float:
    """A metric value read back from JSON (numbers or "inf"/"nan" strings) as a float."""
    return float(value)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write strict JSON (2-space indent) atomically, creating parent folders: a failure leaves
    any previous file at ``path`` as it was (:func:`zoo._io.atomic_write_json`)."""
    return atomic_write_json(path, to_jsonable(obj), indent=2, allow_nan=False)


def format_value(value: Any, key: str = "") -> str:
    """A metric value as printed in tables: 2 decimals for PSNR / FD / SI-SDR (dB), 4 for the
    rest."""
    if value is None:
        return "–"
    v = as_float(value)
    if not math.isfinite(v):
        return str(value)
    if key in ("psnr", "fid", "fd_efflite0", "si_sdr") or abs(v) >= 100:
        return f"{v:.2f}"
    return f"{v:.4f}"


def markdown_table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A GitHub Markdown table."""
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
