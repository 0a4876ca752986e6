"""Audio tokenizers. Importing this package registers every audio family's variants."""

from zoo.tokenizers.audio import seanet_codec  # noqa: F401  (registers variants)
from zoo.tokenizers.audio.base import AudioTokenizer, StreamState
from zoo.tokenizers.audio.seanet_codec import SEANetCodec

__all__ = ["AudioTokenizer", "SEANetCodec", "StreamState"]
