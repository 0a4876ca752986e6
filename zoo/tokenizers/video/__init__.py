"""Video tokenizers. Importing this package registers every video family's variants."""

from zoo.tokenizers.video import causal3d  # noqa: F401  (registers variants)
from zoo.tokenizers.video.base import VideoStreamState, VideoTokenizer
from zoo.tokenizers.video.causal3d import Causal3D, inflate_image_weights

__all__ = ["Causal3D", "VideoStreamState", "VideoTokenizer", "inflate_image_weights"]
