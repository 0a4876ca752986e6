"""Video tokenizers. Importing this package registers every video family's variants."""

from zoo.tokenizers.video import causal3d, cvivit, larp  # noqa: F401  (registers variants)
from zoo.tokenizers.video.base import VideoStreamState, VideoTokenizer
from zoo.tokenizers.video.causal3d import Causal3D, inflate_image_weights
from zoo.tokenizers.video.cvivit import CViViT
from zoo.tokenizers.video.larp import LARP

__all__ = [
    "CViViT",
    "Causal3D",
    "LARP",
    "VideoStreamState",
    "VideoTokenizer",
    "inflate_image_weights",
]
