"""Recipes written for the flat ``model:`` arguments of earlier versions (``lr:``,
``disc_weight:``, ``--model.lr``, ...): ``train.py`` refuses them before parsing and prints the
same recipe in the current spelling (:func:`zoo.training.specs.migrate_legacy_arguments`), so an
old recipe never trains with silently different settings.

    python -m zoo.training.recipes old.yaml      # print the migrated model: section
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from zoo.modalities import get_modality
from zoo.registry import create_tokenizer
from zoo.training.specs import LEGACY_ARGUMENTS, migrate_legacy_arguments

__all__ = ["legacy_recipe_error", "migrated_model_section"]


def migrated_model_section(model: dict[str, Any]) -> dict[str, Any]:
    """The ``model:`` mapping of a recipe with its flat arguments moved to their sections."""
    name = model.get("tokenizer")
    default = {"l1": 1.0}
    if isinstance(name, str):
        default = get_modality(create_tokenizer(name, **(model.get("tokenizer_args") or {})))
        default = dict(default.default_losses)
    return migrate_legacy_arguments(model, default)


def _config_files(argv: Sequence[str]) -> list[str]:
    files = []
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            files.append(argv[i + 1])
        elif arg.startswith("--config="):
            files.append(arg.split("=", 1)[1])
    return files


def legacy_recipe_error(argv: Sequence[str]) -> str | None:
    """A message naming every flat argument in ``argv`` (``--model.lr``) or its ``--config``
    files, with the new spelling; None when there are none."""
    problems = []
    for arg in argv:
        key = arg[len("--model.") :].split("=", 1)[0] if arg.startswith("--model.") else ""
        if key in LEGACY_ARGUMENTS:
            problems.append(f"--model.{key} is now --model.{LEGACY_ARGUMENTS[key]}")
    for path in _config_files(argv):
        try:
            config = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError):
            continue  # LightningCLI reports unreadable configs itself
        model = config.get("model") if isinstance(config, dict) else None
        if not isinstance(model, dict) or not set(model) & set(LEGACY_ARGUMENTS):
            continue
        old = sorted(set(model) & set(LEGACY_ARGUMENTS))
        new = yaml.safe_dump({"model": migrated_model_section(model)}, sort_keys=False)
        problems.append(
            f"{path}: model arguments {old} were renamed; the same recipe in the current "
            f"spelling (python -m zoo.training.recipes {path}):\n{new}"
        )
    if not problems:
        return None
    return "train.py: this recipe uses the flat arguments of earlier versions.\n" + "\n".join(
        problems
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m zoo.training.recipes RECIPE.yaml", file=sys.stderr)
        return 2
    config = yaml.safe_load(Path(args[0]).read_text())
    print(yaml.safe_dump({"model": migrated_model_section(config["model"])}, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
