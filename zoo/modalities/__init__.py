"""Modalities by registration (see :mod:`zoo.modalities.registry`): each module imported below
registers one; adding a modality adds its file and one import line here."""

from zoo.modalities import audio, image, video  # one per built-in modality (they register)
from zoo.modalities.registry import Modality, get_modality, list_modalities, register_modality

__all__ = [
    "Modality",
    "audio",
    "get_modality",
    "image",
    "list_modalities",
    "register_modality",
    "video",
]
