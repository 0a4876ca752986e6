"""``python -m zoo``: what the registry holds, without downloading anything.

    python -m zoo list [PATTERN] [--pretrained]   # names (fnmatch), with modality and licence
    python -m zoo info NAME                       # one architecture or tag: where its weights
                                                  # come from, licence, paper, bits per item, ...

Tokenizers are built on PyTorch's ``meta`` device (shapes only, no memory, no weights), so
``info`` on a 70M-parameter port is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import torch

from zoo.registry import (
    PretrainedCfg,
    create_tokenizer,
    get_pretrained_cfg,
    list_tokenizers,
    split_name_tag,
)
from zoo.tokenizers.base import Tokenizer


def _build(name: str) -> Tokenizer:
    """The architecture of ``name`` with random (meta-device when possible) weights."""
    try:
        with torch.device("meta"):
            return create_tokenizer(name)
    except Exception:  # a constructor that computes on its tensors: build it for real
        return create_tokenizer(name)


def weights_source(cfg: PretrainedCfg | None) -> str:
    """Where a tag's weights come from, in one line."""
    if cfg is None:
        return "random init (no weights registered)"
    if cfg.package_weights is not None:
        return f"package data zoo/weights/{cfg.package_weights}"
    where = cfg.url if cfg.url is not None else f"hf-hub:{cfg.hub_id}"
    if cfg.url is None and cfg.filename:
        where += f" {cfg.filename}"
    if cfg.converter is not None:
        where += " (upstream format, converted on load)"
    return where


def info_lines(name: str) -> list[str]:
    """``key: value`` lines describing ``name`` (an architecture or ``arch.tag``)."""
    arch, tag = split_name_tag(name)
    cfg = None
    if tag is not None or name in list_tokenizers(pretrained=True) or _has_tags(arch):
        tag, cfg = get_pretrained_cfg(name)
    tok = _build(arch)
    rows: list[tuple[str, object]] = [("name", f"{arch}.{tag}" if tag else arch)]
    rows.append(("modality", tok.modality))
    rows.append(("weights", weights_source(cfg)))
    if cfg is not None:
        rows.append(("revision", cfg.revision or ("-" if cfg.url else "main (unpinned)")))
        rows += [("license", cfg.license or "unknown"), ("paper", cfg.paper or "-")]
        rows.append(("training data", cfg.training_data or "-"))
    unit = {"image": "image", "video": "clip", "audio": "second"}.get(tok.modality, "item")
    if tok.modality == "audio":
        rate = getattr(tok, "sample_rate", None) or (cfg.sample_rate if cfg else None)
        rows.append(("sample rate", f"{rate} Hz" if rate else "-"))
        rows.append(("bitrate", f"{tok.bits_per_item():g} bits per {unit}"))
    else:
        side = getattr(tok, "image_size", None)
        res = cfg.resolution if cfg is not None and cfg.resolution else side
        rows.append(("resolution", res if res is not None else "-"))
        rows.append((f"bits per {unit}", f"{tok.bits_per_item():g}"))
    rows.append(("tokens", f"{tok.token_shape()} x {tok.num_codebooks} codebook(s)"))
    rows.append(("codebook size", tok.codebook_size))
    rows.append(("flexible length", tok.flexible_length))
    if cfg is not None:
        if cfg.metrics:
            shown = ", ".join(f"{k} {v:g}" for k, v in cfg.metrics.items())
            rows.append(("upstream metrics", f"{shown} ({cfg.metrics_dataset or 'dataset -'})"))
        if cfg.notes:
            rows.append(("notes", cfg.notes))
    tags = [n for n in list_tokenizers(arch, pretrained=True) if split_name_tag(n)[0] == arch]
    rows.append(("tags", ", ".join(tags) or "-"))
    width = max(len(k) for k, _ in rows)
    return [f"{k:<{width}}  {v}" for k, v in rows]


def _has_tags(arch: str) -> bool:
    return any(split_name_tag(n)[0] == arch for n in list_tokenizers(arch, pretrained=True))


def list_lines(pattern: str, pretrained: bool) -> list[str]:
    """One row per name: name, modality, licence, weights."""
    names = list_tokenizers(pattern, pretrained=pretrained)
    rows = []
    for name in names:
        arch, tag = split_name_tag(name)
        cfg = get_pretrained_cfg(name)[1] if tag else None
        modality = _build(arch).modality
        lic = (cfg.license or "unknown") if cfg else "-"
        rows.append((name, modality, lic, weights_source(cfg) if cfg else "-"))
    if not rows:
        return [f"no tokenizer matches {pattern!r}"]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [f"{a:<{widths[0]}}  {m:<{widths[1]}}  {lic:<{widths[2]}}  {w}" for a, m, lic, w in rows]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="registered names with modality and licence")
    p_list.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern (default *)")
    p_list.add_argument("--pretrained", action="store_true", help="only names with weights")
    p_info = sub.add_parser("info", help="one architecture or tag in detail")
    p_info.add_argument("name", help="family_variant or family_variant.tag")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            lines = list_lines(args.pattern, args.pretrained)
        else:
            lines = info_lines(args.name)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
