"""Image tokenizers. Importing this package registers every image family's variants."""

from zoo.tokenizers.image import emu3, titok, titok_latent, vqgan2d  # noqa: F401  (registers)
from zoo.tokenizers.image.emu3 import Emu3VisionTokenizer
from zoo.tokenizers.image.titok import TiTok
from zoo.tokenizers.image.titok_latent import LatentTiTok
from zoo.tokenizers.image.vqgan2d import VQGAN

__all__ = ["Emu3VisionTokenizer", "LatentTiTok", "TiTok", "VQGAN"]
