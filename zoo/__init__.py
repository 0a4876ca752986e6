"""tokenizer-zoo: visual and audio tokenizers with one shared quantizer library."""

from zoo.outputs import QuantizerOutput, TokenizerOutput
from zoo.quantizers import create_quantizer, list_quantizers
from zoo.tokenizers import Tokenizer

from zoo.registry import create_tokenizer, list_tokenizers, register_tokenizer  # isort: skip
from zoo.hub import load  # isort: skip

__version__ = "0.1.0"

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
