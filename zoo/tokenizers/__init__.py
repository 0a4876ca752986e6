"""Tokenizers: the shared base class and one subpackage per modality (image/, video/, audio/).

Importing this package imports every modality subpackage present, whose family modules register
their variants with :mod:`zoo.registry` (``zoo.list_tokenizers()`` then sees all of them).
"""

import importlib
import pkgutil

from zoo.tokenizers.base import Tokenizer


def _import_modalities() -> None:
    # Subpackages are discovered rather than listed so a modality added later registers itself;
    # an import error inside one still propagates.
    for mod in pkgutil.iter_modules(__path__):
        if mod.ispkg:
            importlib.import_module(f"{__name__}.{mod.name}")


_import_modalities()

__all__ = ["Tokenizer"]
