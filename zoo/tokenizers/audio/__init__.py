"""Audio tokenizers. Importing this package registers every audio family's variants."""

from zoo.tokenizers.audio import cat, seanet_codec, wavtokenizer  # noqa: F401  (registers)
from zoo.tokenizers.audio.base import AudioTokenizer, StreamState
from zoo.tokenizers.audio.cat import CausalAudioTransformerCodec
from zoo.tokenizers.audio.seanet_codec import SEANetCodec
from zoo.tokenizers.audio.wavtokenizer import WavTokenizer

__all__ = [
    "AudioTokenizer",
    "CausalAudioTransformerCodec",
    "SEANetCodec",
    "StreamState",
    "WavTokenizer",
]
