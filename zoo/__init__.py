"""tokenizer-zoo: visual and audio tokenizers with one shared quantizer library."""

from zoo.outputs import QuantizerOutput, TokenizerOutput
from zoo.quantizers import create_quantizer, list_quantizers

__version__ = "0.1.0"

__all__ = [
    "QuantizerOutput",
    "TokenizerOutput",
    "create_quantizer",
    "list_quantizers",
    "__version__",
]
