"""Prepacked oneDNN convolutions (decoders at inference): same values as F.conv1d up to float
rounding, channels-last outputs, a cache that follows the weights, the plain path otherwise."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import zoo
from zoo.layers import prepacked
from zoo.layers.streaming import StreamableConv1d, StreamableConvTranspose1d

# The prepacked ops are a feature of the torch build, not a package we can declare: x86-64
# wheels (CI, this machine) have them, some other builds do not, and there the plain path runs
# (test_without_onednn_decoders_use_the_plain_op covers it on every build).
needs_onednn = pytest.mark.skipif(
    not prepacked.AVAILABLE, reason="this PyTorch build has no oneDNN prepacked convolutions"
)


@needs_onednn
@pytest.mark.parametrize(
    ("cin", "cout", "kernel", "stride", "dilation", "groups", "length"),
    [(8, 16, 7, 1, 1, 1, 50), (16, 16, 3, 1, 9, 1, 40), (12, 24, 4, 2, 1, 1, 33),
     (16, 16, 7, 1, 1, 4, 20), (6, 5, 1, 1, 1, 1, 1)],
)  # fmt: skip
def test_conv1d_matches_f_conv1d_and_returns_channels_last(
    cin, cout, kernel, stride, dilation, groups, length
):
    torch.manual_seed(0)
    conv = StreamableConv1d(in_channels=cin, out_channels=cout, kernel_size=kernel,
                            stride=stride, dilation=dilation, groups=groups, prepack=True,
                            pad_mode="constant").eval()  # fmt: skip
    plain = StreamableConv1d(in_channels=cin, out_channels=cout, kernel_size=kernel,
                             stride=stride, dilation=dilation, groups=groups,
                             pad_mode="constant").eval()  # fmt: skip
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(3, cin, length)
    with torch.no_grad():
        got, want = conv(x), plain(x)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert got.stride() == (cout * got.shape[-1], 1, cout)  # channels-last: no re-order back
    # Autograd on (training code paths): exactly F.conv1d, a plain contiguous map.
    assert torch.equal(conv(x), plain(x)) and conv(x).is_contiguous()


@needs_onednn
def test_conv_transpose1d_matches_and_streams():
    torch.manual_seed(0)
    tr = StreamableConvTranspose1d(in_channels=8, out_channels=4, kernel_size=8, stride=4,
                                   causal=True, prepack=True).eval()  # fmt: skip
    plain = StreamableConvTranspose1d(in_channels=8, out_channels=4, kernel_size=8, stride=4,
                                      causal=True).eval()  # fmt: skip
    plain.load_state_dict(tr.state_dict())
    x = torch.randn(2, 8, 25)
    with torch.no_grad():
        torch.testing.assert_close(tr(x), plain(x), rtol=1e-5, atol=1e-5)
        out, state = [], None
        for i, chunk in enumerate(x.split(7, -1)):
            y, state = tr.stream(chunk, state, final=i == 3)
            out.append(y)
        torch.testing.assert_close(torch.cat(out, -1), plain(x), rtol=1e-5, atol=1e-5)


@needs_onednn
def test_the_packed_weight_follows_the_weights():
    torch.manual_seed(0)
    conv = StreamableConv1d(in_channels=4, out_channels=4, kernel_size=3, prepack=True).eval()
    x = torch.randn(1, 4, 20)
    with torch.no_grad():
        first = conv(x)
        assert prepacked._CACHE in conv.__dict__
        # An in-place update (optimizer step, load_state_dict) is seen: the weight is re-packed.
        conv.conv.parametrizations.weight.original0.mul_(2.0)  # the magnitude g
        second = conv(x)
    want = F.conv1d(F.pad(x, (1, 1), mode="reflect"), conv.conv.weight, conv.conv.bias)
    torch.testing.assert_close(second, want.detach(), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(first, second)
    # Training mode: the plain op (and the folded weight's gradients) as before.
    conv.train()
    with torch.no_grad():
        assert conv(x).is_contiguous()


def test_without_onednn_decoders_use_the_plain_op(monkeypatch):
    monkeypatch.setattr(prepacked, "AVAILABLE", False)
    torch.manual_seed(0)
    tok = zoo.create_tokenizer("seanet_test").eval()
    x = torch.randn(1, 1, 800).mul(0.3).clamp(-1, 1)
    with torch.no_grad():
        audio = tok.detokenize(tok.tokenize(x))
    assert audio.is_contiguous()
    assert not any(prepacked._CACHE in m.__dict__ for m in tok.modules())


@needs_onednn
def test_codec_decoders_prepack_and_encoders_do_not():
    """Only the decoder's convs take the prepacked path, so codes stay bit-identical to
    F.conv1d's (what upstream runs) and only the decoded audio differs by rounding."""
    torch.manual_seed(0)
    tok = zoo.create_tokenizer("seanet_test").eval()
    x = torch.randn(1, 1, 800).mul(0.3).clamp(-1, 1)
    with torch.no_grad():
        codes = tok.tokenize(x)
        audio = tok.detokenize(codes)
    packed = {n.split(".")[0] for n, m in tok.named_modules() if prepacked._CACHE in m.__dict__}
    assert packed == {"decoder"}
    with torch.no_grad():
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(prepacked, "AVAILABLE", False)
            assert torch.equal(tok.tokenize(x), codes)
            plain = tok.detokenize(codes)
    torch.testing.assert_close(audio, plain, rtol=1e-5, atol=1e-5)


@needs_onednn
def test_linear_with_fused_gelu_and_folded_scale():
    torch.manual_seed(0)
    lin = torch.nn.Linear(16, 24).eval()
    scale = torch.nn.Parameter(torch.rand(24))
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        want = F.linear(x, lin.weight, lin.bias)
        torch.testing.assert_close(prepacked.linear(lin, x, lin.weight, lin.bias), want)
        got = prepacked.linear(lin, x, lin.weight, lin.bias, gelu=True)
        torch.testing.assert_close(got, F.gelu(want), rtol=1e-5, atol=1e-5)
        got = prepacked.linear(lin, x[0], lin.weight, lin.bias, scale=scale)  # another shape
        torch.testing.assert_close(got, want[0] * scale, rtol=1e-5, atol=1e-5)
        scale.mul_(0.5)  # a changed scale (or weight) is re-folded
        got = prepacked.linear(lin, x, lin.weight, lin.bias, scale=scale)
        torch.testing.assert_close(got, want * scale, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="gelu and scale"):
        prepacked.linear(lin, x, lin.weight, lin.bias, gelu=True, scale=scale)


def test_reflect_padding_keeps_a_channels_last_map_channels_last():
    from zoo.layers.streaming import pad1d

    x = torch.randn(2, 6, 11).transpose(1, 2).contiguous().transpose(1, 2)
    got = pad1d(x, 3, 2, "reflect")
    assert torch.equal(got, F.pad(x.contiguous(), (3, 2), mode="reflect"))
    assert got.stride() == (6 * 16, 1, 6)


@needs_onednn
def test_vocos_blocks_at_inference_match_the_plain_path(monkeypatch):
    """WavTokenizer's decoder at inference (prepacked, GELU fused, layer scale folded,
    channels-last throughout) gives the plain ops' audio up to float rounding."""
    torch.manual_seed(0)
    tok = zoo.create_tokenizer("wavtokenizer_test").eval()
    for block in tok.modules():  # non-trivial layer scales
        if hasattr(block, "gamma") and block.gamma is not None:
            block.gamma.data.uniform_(0.5, 1.5)
    x = torch.randn(1, 1, 4000).mul(0.3).clamp(-1, 1)
    with torch.no_grad():
        codes = tok.tokenize(x)
        audio = tok.detokenize(codes)
        assert any(prepacked._CACHE in m.__dict__ for n, m in tok.named_modules() if "pwconv2" in n)
        monkeypatch.setattr(prepacked, "AVAILABLE", False)
        plain = tok.detokenize(codes)
    torch.testing.assert_close(audio, plain, rtol=1e-4, atol=1e-5)
