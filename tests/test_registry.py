"""Registry (names, tags, listing, errors) and the Tokenizer base class (validation, shapes).

Uses a tiny 2D conv tokenizer defined here and registered only while a test runs, so the tests
do not depend on any family and never leave entries behind for other test files.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import zoo
from zoo.outputs import TokenizerOutput
from zoo.quantizers import create_quantizer
from zoo.registry import (
    PretrainedCfg,
    create_tokenizer,
    get_pretrained_cfg,
    list_pretrained_tags,
    list_tokenizers,
    register_pretrained,
    register_tokenizer,
    split_name_tag,
    unregister_tokenizer,
)
from zoo.tokenizers.base import Tokenizer


class TinyConvTokenizer(Tokenizer):
    """Patchify conv -> FSQ -> transposed conv; tokens on a (H/d, W/d) grid."""

    modality = "image"

    def __init__(self, *, width: int = 6, levels: tuple[int, ...] = (5, 4, 3), down: int = 4):
        super().__init__()
        self.input_multiple = down
        self.down = down
        self.num_tokens = (16 // down) ** 2  # at the default 16 x 16 input
        self.enc = nn.Conv2d(3, width, down, stride=down)
        self.quantizer = create_quantizer("fsq", levels=list(levels), dim=width)
        self.dec = nn.ConvTranspose2d(width, 3, down, stride=down)

    def token_shape(self, num_tokens=None):
        self._resolve_num_tokens(num_tokens)
        return (16 // self.down, 16 // self.down)

    def encode(self, x):
        return self.enc(x).permute(0, 2, 3, 1)

    def decode(self, quantized, num_tokens=None):
        return torch.tanh(self.dec(quantized.permute(0, 3, 1, 2)))


CFG_A = PretrainedCfg(hub_id="org/tiny-a", license="MIT", metrics={"psnr": 20.0})
CFG_B = PretrainedCfg(hub_id="org/tiny-b", revision="v1")


@pytest.fixture
def tiny():
    """Register ``tinyconv_s`` (tags ``first``, ``second``) and ``tinyconv_m`` (no weights)."""

    @register_tokenizer(pretrained_cfgs={"first": CFG_A, "second": CFG_B})
    def tinyconv_s(**kwargs):
        return TinyConvTokenizer(**dict({"width": 6}, **kwargs))

    @register_tokenizer
    def tinyconv_m(**kwargs):
        return TinyConvTokenizer(**dict({"width": 8, "down": 2}, **kwargs))

    yield
    for name in ("tinyconv_s", "tinyconv_m"):
        if name in list_tokenizers(name):
            unregister_tokenizer(name)


def images(b=2, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, size, size, generator=g) * 2 - 1


# ------------------------------------------------------------------------------ registry
def test_split_name_tag():
    assert split_name_tag("titok_l32.in1k_256") == ("titok_l32", "in1k_256")
    assert split_name_tag("titok_l32") == ("titok_l32", None)


def test_listing_uses_fnmatch_and_lists_tags(tiny):
    assert list_tokenizers("tinyconv_*") == ["tinyconv_m", "tinyconv_s"]
    assert list_tokenizers("tinyconv_?") == ["tinyconv_m", "tinyconv_s"]
    assert list_tokenizers(["tinyconv_s", "nomatch*"]) == ["tinyconv_s"]
    assert list_tokenizers("tinyconv*", pretrained=True) == [
        "tinyconv_s.first",
        "tinyconv_s.second",
    ]
    assert list_tokenizers("tinyconv_s.s*", pretrained=True) == ["tinyconv_s.second"]
    assert list_pretrained_tags("tinyconv_s") == ["first", "second"]
    assert "tinyconv_s" in zoo.list_tokenizers()


def test_unregister_removes_name(tiny):
    unregister_tokenizer("tinyconv_m")
    assert list_tokenizers("tinyconv_*") == ["tinyconv_s"]
    with pytest.raises(ValueError, match="unknown tokenizer 'tinyconv_m'"):
        create_tokenizer("tinyconv_m")


def test_duplicate_name_warns_and_replaces(tiny):
    def tinyconv_m(**kwargs):
        return TinyConvTokenizer(**dict({"width": 3}, **kwargs))

    with pytest.warns(UserWarning, match="'tinyconv_m' is already registered"):
        register_tokenizer(tinyconv_m)
    assert create_tokenizer("tinyconv_m").enc.out_channels == 3


def test_duplicate_tag_warns(tiny):
    with pytest.warns(UserWarning, match="replacing weights of 'tinyconv_s.first'"):
        register_pretrained("tinyconv_s.first", CFG_B)
    assert get_pretrained_cfg("tinyconv_s.first")[1] is CFG_B


def test_register_pretrained_needs_known_arch_and_tag():
    with pytest.raises(ValueError, match="expected 'arch.tag'"):
        register_pretrained("tinyconv_s", CFG_A)
    with pytest.raises(ValueError, match="unknown tokenizer 'no_such_thing'"):
        register_pretrained("no_such_thing.tag", CFG_A)


def test_unknown_name_lists_closest_names(tiny):
    with pytest.raises(ValueError, match=r"unknown tokenizer 'tinyconv_ss'.*tinyconv_s"):
        create_tokenizer("tinyconv_ss")
    with pytest.raises(ValueError, match=r"tinyconv_s") as err:
        zoo.load("tinycnv_s.first")
    assert "hf-hub:org/repo" in str(err.value)


def test_create_with_overrides_sets_architecture_and_config(tiny):
    tok = create_tokenizer("tinyconv_s", width=4, levels=[3, 3])
    assert isinstance(tok, TinyConvTokenizer)
    assert tok.architecture == "tinyconv_s"
    assert tok.pretrained_cfg is None
    assert tok.enc.out_channels == 4 and tok.codebook_size == 9
    config = tok.get_config()
    assert config == {"architecture": "tinyconv_s", "width": 4, "levels": [3, 3], "down": 4}


def test_create_with_tag_selects_cfg_without_loading(tiny):
    tok = create_tokenizer("tinyconv_s.second")
    assert tok.architecture == "tinyconv_s"
    assert tok.pretrained_cfg is CFG_B
    assert tok.training  # no weights were loaded, so it was not switched to eval mode


def test_create_with_unknown_argument_names_the_tokenizer(tiny):
    with pytest.raises(TypeError, match=r"create_tokenizer\('tinyconv_s', \.\.\.\).*widht"):
        create_tokenizer("tinyconv_s", widht=3)


def test_unknown_tag_lists_registered_tags(tiny):
    with pytest.raises(ValueError, match=r"no weights tagged 'third'.*tinyconv_s\.first"):
        create_tokenizer("tinyconv_s.third")


def test_default_tag_is_the_first_registered(tiny):
    assert get_pretrained_cfg("tinyconv_s") == ("first", CFG_A)


def test_name_without_weights_points_to_create_tokenizer(tiny):
    with pytest.raises(
        ValueError, match=r"no pretrained weights.*create_tokenizer\('tinyconv_m'\)"
    ):
        zoo.load("tinyconv_m")
    with pytest.raises(ValueError, match="no pretrained weights"):
        create_tokenizer("tinyconv_m", pretrained=True)


def test_variant_returning_a_non_tokenizer_is_rejected():
    @register_tokenizer
    def notatokenizer_x(**kwargs):
        return nn.Linear(2, 2)

    try:
        with pytest.raises(TypeError, match="returned a Linear, expected a zoo Tokenizer"):
            create_tokenizer("notatokenizer_x")
    finally:
        unregister_tokenizer("notatokenizer_x")


def test_pretrained_cfg_needs_a_location():
    with pytest.raises(ValueError, match="set package_weights, hub_id, or url"):
        PretrainedCfg(license="MIT")
    with pytest.raises(ValueError, match="needs a converter"):
        PretrainedCfg(url="https://example.com/x.pt")
    with pytest.raises(ValueError, match="needs the upstream checkpoint's filename"):
        PretrainedCfg(hub_id="org/x", converter="convert")


def test_registered_names_have_no_dots():
    with pytest.raises(ValueError, match="must be non-empty and have no '.'"):
        register_tokenizer(name="a.b")(lambda: None)


# ------------------------------------------------------------------------------ base class
def test_constructor_with_var_kwargs_is_rejected_at_class_creation():
    with pytest.raises(TypeError, match=r"must not take \*args/\*\*kwargs"):

        class Bad(Tokenizer):
            def __init__(self, *, width: int = 2, **kwargs):
                super().__init__()

    with pytest.raises(TypeError, match="'architecture' is reserved"):

        class Bad2(Tokenizer):
            def __init__(self, *, architecture: str = "x"):
                super().__init__()


def test_tokenize_detokenize_forward_shapes(tiny):
    tok = create_tokenizer("tinyconv_s").eval()
    x = images()
    codes = tok.tokenize(x)
    assert codes.dtype == torch.int64 and codes.shape == (2, 4, 4, 1)
    assert 0 <= int(codes.min()) and int(codes.max()) < tok.codebook_size == 60
    assert tok.token_shape() == (4, 4) and tok.num_codebooks == 1
    assert tok.bits_per_item() == pytest.approx(16 * math.log2(60))
    x_hat = tok.detokenize(codes)
    assert x_hat.shape == x.shape
    out = tok(x)
    assert isinstance(out, TokenizerOutput)
    assert out.num_tokens == 16
    # forward's straight-through reconstruction equals detokenize(tokenize(x)) in eval mode
    torch.testing.assert_close(out.reconstruction, x_hat)
    assert torch.equal(out.quantizer.codes, codes)


def test_tokenize_accepts_other_sizes_that_fit_the_multiple(tiny):
    tok = create_tokenizer("tinyconv_s")
    assert tok.tokenize(images(size=24)).shape == (2, 6, 6, 1)


def test_forward_gradients_reach_encoder(tiny):
    tok = create_tokenizer("tinyconv_s").train()
    out = tok(images())
    out.reconstruction.square().mean().backward()
    assert tok.enc.weight.grad is not None and tok.enc.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("x", "exc", "match"),
    [
        (torch.zeros(2, 4, 16, 16), ValueError, r"expected 3 channels at dim 1.*\(2, 4, 16, 16\)"),
        (torch.zeros(2, 16, 16, 3), ValueError, r"expected 3 channels.*channels last\?"),
        (torch.full((1, 3, 16, 16), 255.0), ValueError, r"values in \[-1, 1\].*\[0, 255\]"),
        (torch.full((1, 3, 16, 16), -1.5), ValueError, r"got values in \[-1.5, -1.5\]"),
        (torch.zeros(1, 3, 18, 16), ValueError, r"multiples of \(4, 4\).*H: 16 or 20"),
        (torch.zeros(1, 3, 16, 2), ValueError, r"nearest valid sizes: W: 4"),
        (torch.zeros(0, 3, 16, 16), ValueError, "empty batch"),
        (torch.zeros(3, 16, 16), ValueError, r"expected a 4-d image tensor \(B, C, H, W\)"),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), TypeError, r"floating-point.*uint8"),
        ([[0.0]], TypeError, "expected a torch.Tensor"),
    ],
)
def test_invalid_inputs_raise_clear_errors(tiny, x, exc, match):
    tok = create_tokenizer("tinyconv_s")
    with pytest.raises(exc, match=match) as err:
        tok.tokenize(x)
    assert "tokenizer 'tinyconv_s'" in str(err.value)
    if isinstance(x, torch.Tensor):
        with pytest.raises(exc, match=match):
            tok(x)


def test_nan_input_is_rejected_and_counted(tiny):
    tok = create_tokenizer("tinyconv_s")
    x = images()
    x[0, 0, 0, :3] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or Inf \(3 of 1536 values\)"):
        tok.tokenize(x)


def test_value_checks_can_be_disabled_but_shape_checks_cannot(tiny):
    tok = create_tokenizer("tinyconv_s")
    tok.check_inputs = False
    assert tok.tokenize(torch.full((1, 3, 16, 16), 3.0)).shape == (1, 4, 4, 1)
    with pytest.raises(ValueError, match="expected 3 channels"):
        tok.tokenize(torch.zeros(1, 1, 16, 16))


def test_small_overshoot_within_tolerance_is_accepted(tiny):
    tok = create_tokenizer("tinyconv_s")
    x = images().clamp(-1, 1)
    x[0, 0, 0, 0] = 1.005
    tok.tokenize(x)


def test_fixed_input_size_is_enforced(tiny):
    tok = create_tokenizer("tinyconv_s")
    tok.input_size = (16, 16)
    with pytest.raises(ValueError, match=r"expected H x W = \(16, 16\), got \(32, 32\)"):
        tok.tokenize(images(size=32))


@pytest.mark.parametrize(
    ("codes", "exc", "match"),
    [
        (torch.zeros(2, 4, 4, 1), TypeError, "expected integer codes"),
        (torch.zeros(2, 16, 1, dtype=torch.long), ValueError, r"codes of shape \(B, 4, 4, 1\)"),
        (torch.zeros(2, 4, 4, 2, dtype=torch.long), ValueError, r"got \(2, 4, 4, 2\)"),
        (torch.zeros(0, 4, 4, 1, dtype=torch.long), ValueError, "empty batch of codes"),
        (torch.full((1, 4, 4, 1), 60), ValueError, r"codes must lie in \[0, 60\)"),
    ],
)
def test_invalid_codes_raise_clear_errors(tiny, codes, exc, match):
    tok = create_tokenizer("tinyconv_s")
    with pytest.raises(exc, match=match):
        tok.detokenize(codes)


def test_num_tokens_on_a_fixed_length_tokenizer(tiny):
    tok = create_tokenizer("tinyconv_s")
    assert tok.tokenize(images(), num_tokens=16).shape == (2, 4, 4, 1)
    with pytest.raises(ValueError, match="needs a flexible-length tokenizer"):
        tok.tokenize(images(), num_tokens=8)
    with pytest.raises(TypeError, match="num_tokens must be an int"):
        tok.tokenize(images(), num_tokens=2.0)


def test_get_config_needs_an_architecture():
    tok = TinyConvTokenizer()
    with pytest.raises(ValueError, match="architecture is not set"):
        tok.get_config()


def test_non_json_constructor_arguments_are_rejected(tiny):
    # The Hub mixin silently drops non-JSON-able values and records the default instead, so
    # config.json would rebuild a different model: numpy ints (a common slip) must fail loudly.
    with pytest.raises(TypeError, match=r"TinyConvTokenizer: constructor arguments must be.*width"):
        create_tokenizer("tinyconv_s", width=np.int64(3))
    with pytest.raises(TypeError, match="keyword-only and JSON-able.*positional arguments"):
        TinyConvTokenizer(3)


def test_get_config_names_unrecorded_arguments(tiny):
    tok = create_tokenizer("tinyconv_s")
    del tok._hub_mixin_config["width"]
    with pytest.raises(ValueError, match=r"constructor arguments \['width'\] were not recorded"):
        tok.get_config()
