"""Image tokenizers. Importing this package registers every image family's variants."""

from zoo.tokenizers.image import titok, vqgan2d  # noqa: F401  (registers variants)
from zoo.tokenizers.image.titok import TiTok
from zoo.tokenizers.image.vqgan2d import VQGAN

__all__ = ["TiTok", "VQGAN"]
