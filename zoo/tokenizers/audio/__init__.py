"""Audio tokenizers. Importing this package registers every audio family's variants."""

from zoo.tokenizers.audio import cat, dac, seanet_codec, wavtokenizer  # noqa: F401  (registers)
from zoo.tokenizers.audio.base import AudioTokenizer, StreamState
from zoo.tokenizers.audio.cat import CausalAudioTransformerCodec
from zoo.tokenizers.audio.dac import DACCodec
from zoo.tokenizers.audio.seanet_codec import SEANetCodec
from zoo.tokenizers.audio.wavtokenizer import WavTokenizer

__all__ = [
    "AudioTokenizer",
    "CausalAudioTransformerCodec",
    "DACCodec",
    "SEANetCodec",
    "StreamState",
    "WavTokenizer",
]
