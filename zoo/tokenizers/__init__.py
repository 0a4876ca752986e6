"""Tokenizers: the shared base class and one subpackage per modality (image/, video/, audio/).

:func:`import_families` imports every modality subpackage present, whose family modules register
their variants with :mod:`zoo.registry`; ``import zoo`` calls it, so ``zoo.list_tokenizers()``
sees all of them. This package's own import stays light (the base class only): the registry and
the Hub layer import :mod:`zoo.tokenizers.base`, and the families import the registry.
"""

import importlib
import pkgutil

from zoo.tokenizers.base import Tokenizer


def import_families() -> None:
    """Import every modality subpackage (and so every family module, which registers itself)."""
    # Subpackages are discovered rather than listed so a modality added later registers itself;
    # an import error inside one still propagates.
    for mod in pkgutil.iter_modules(__path__):
        if mod.ispkg:
            importlib.import_module(f"{__name__}.{mod.name}")


__all__ = ["Tokenizer", "import_families"]
