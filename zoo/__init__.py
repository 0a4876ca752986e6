"""tokenizer-zoo: visual and audio tokenizers with one shared quantizer library."""

from zoo._version import __version__
from zoo.hub import load
from zoo.outputs import QuantizerOutput, TokenizerOutput
from zoo.quantizers import create_quantizer, list_quantizers
from zoo.registry import create_tokenizer, list_tokenizers, register_tokenizer
from zoo.tokenizers import Tokenizer, import_families

import_families()  # every tokenizer family registers its variants

__all__ = [
    "QuantizerOutput",
    "Tokenizer",
    "TokenizerOutput",
    "create_quantizer",
    "create_tokenizer",
    "list_quantizers",
    "list_tokenizers",
    "load",
    "register_tokenizer",
    "__version__",
]
