"""Tests of zoo.layers: attention (masks, RoPE), transformer stack, conv blocks, patching, norms."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.layers import (
    Attention,
    CausalConv,
    ConvAttention,
    Downsample,
    PatchEmbed,
    ResnetBlock,
    RotaryEmbedding,
    Transformer,
    Upsample,
    activate_,
    apply_rotary,
    create_activation,
    create_norm,
    patchify,
    unpatchify,
    upsample_conv2d,
)
from zoo.layers.conv import add_residual


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# ---------------------------------------------------------------- attention
def _reference_attention(attn: Attention, x, mask=None):
    b, n, d = x.shape
    q, k, v = attn.qkv(x).view(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    logits = q @ k.transpose(-1, -2) / math.sqrt(attn.head_dim)
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    out = logits.softmax(-1) @ v
    return attn.proj(out.transpose(1, 2).reshape(b, n, d))


def test_attention_matches_reference_softmax():
    attn = Attention(dim=16, num_heads=4)
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(attn(x), _reference_attention(attn, x), atol=1e-5, rtol=1e-5)


def test_causal_flag_equals_lower_triangular_mask_and_ignores_future():
    attn = Attention(dim=16, num_heads=2)
    x = torch.randn(2, 6, 16)
    tril = torch.ones(6, 6, dtype=torch.bool).tril()
    out = attn(x, is_causal=True)
    torch.testing.assert_close(out, attn(x, attn_mask=tril), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, _reference_attention(attn, x, tril), atol=1e-5, rtol=1e-5)
    x2 = x.clone()
    x2[:, -1] += 3.0  # the future must not change earlier outputs
    out2 = attn(x2, is_causal=True)
    torch.testing.assert_close(out[:, :-1], out2[:, :-1])
    assert not torch.allclose(out[:, -1], out2[:, -1])


def test_per_sample_mask_blocks_masked_keys():
    attn = Attention(dim=8, num_heads=2)
    x = torch.randn(2, 4, 8)
    mask = torch.ones(2, 4, 4, dtype=torch.bool)
    mask[0, :, 3] = False  # sample 0 never looks at token 3
    x2 = x.clone()
    x2[:, 3] += 5.0
    out, out2 = attn(x, attn_mask=mask), attn(x2, attn_mask=mask)
    torch.testing.assert_close(out[0, :3], out2[0, :3])
    assert not torch.allclose(out[1, :3], out2[1, :3])


def test_attention_rejects_bad_masks():
    attn = Attention(dim=8, num_heads=2)
    x = torch.randn(1, 4, 8)
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        attn(x, attn_mask=torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="not both"):
        attn(x, attn_mask=torch.ones(4, 4, dtype=torch.bool), is_causal=True)
    with pytest.raises(ValueError, match="divisible"):
        Attention(dim=10, num_heads=3)


def test_rope_is_relative_and_norm_preserving():
    rope = RotaryEmbedding(head_dim=8, num_axes=2)
    pos = torch.stack(torch.meshgrid(torch.arange(3), torch.arange(4), indexing="ij"), -1)
    pos = pos.reshape(-1, 2).float()
    q, k = torch.randn(2, 1, 12, 8), torch.randn(2, 1, 12, 8)
    cos, sin = rope(pos)
    qr, kr = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    torch.testing.assert_close(qr.norm(dim=-1), q.norm(dim=-1))
    cos2, sin2 = rope(pos + torch.tensor([5.0, -2.0]))  # shift every position
    qs, ks = apply_rotary(q, cos2, sin2), apply_rotary(k, cos2, sin2)
    # logits depend only on relative offsets
    torch.testing.assert_close(
        qr @ kr.transpose(-1, -2), qs @ ks.transpose(-1, -2), atol=1e-4, rtol=1e-4
    )
    assert not torch.allclose(qr, q)
    with pytest.raises(ValueError, match="positions of shape"):
        rope(torch.zeros(4, 3))


def test_attention_with_rope_changes_output_with_positions():
    attn = Attention(dim=16, num_heads=2)
    rope = RotaryEmbedding(head_dim=8)
    x = torch.randn(1, 5, 16)
    a = attn(x, rope=rope(torch.arange(5)))
    b = attn(x, rope=rope(torch.arange(5).flip(0)))
    assert a.shape == (1, 5, 16) and not torch.allclose(a, b)


# ---------------------------------------------------------------- transformer
def test_transformer_causal_and_checkpointing_gradients_match():
    net = Transformer(dim=16, depth=2, num_heads=2, layer_scale=0.5, drop_path=0.0)
    x = torch.randn(2, 6, 16, requires_grad=True)
    out = net(x, is_causal=True)
    x2 = x.detach().clone()
    x2[:, 4:] += 1.0
    torch.testing.assert_close(out[:, :4], net(x2, is_causal=True)[:, :4])
    out.square().sum().backward()
    g_plain = x.grad.clone()
    params_plain = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    x.grad = None
    net.grad_checkpointing = True
    net(x, is_causal=True).square().sum().backward()
    torch.testing.assert_close(x.grad, g_plain)
    for p, g in zip(net.parameters(), params_plain, strict=True):
        torch.testing.assert_close(p.grad, g)


def test_drop_path_only_in_training():
    net = Transformer(dim=8, depth=3, num_heads=2, drop_path=0.9)
    x = torch.randn(16, 3, 8)
    net.eval()
    torch.testing.assert_close(net(x), net(x))
    net.train()
    assert not torch.allclose(net(x), net(x))


# ---------------------------------------------------------------- conv
@pytest.mark.parametrize("dims,spatial", [(1, (16,)), (2, (8, 12)), (3, (4, 8, 8))])
def test_resnet_down_up_shapes(dims, spatial):
    x = torch.randn(2, 8, *spatial)
    block = ResnetBlock(in_channels=8, out_channels=12, dims=dims)
    h = block(x)
    assert h.shape == (2, 12, *spatial)
    down = Downsample(channels=12, dims=dims)(h)
    assert down.shape == (2, 12, *(s // 2 for s in spatial))
    up = Upsample(channels=12, dims=dims, out_channels=4)(down)
    assert up.shape == (2, 4, *spatial)
    attn = ConvAttention(channels=12, dims=dims)
    assert attn(h).shape == h.shape


def test_downsample_per_axis_factor_and_avgpool():
    x = torch.randn(1, 4, 5, 8, 8)
    assert Downsample(channels=4, dims=3, factor=(1, 2, 2))(x).shape == (1, 4, 5, 4, 4)
    pooled = Downsample(channels=4, dims=3, factor=2, mode="avgpool")(x[:, :, :4])
    torch.testing.assert_close(pooled[0, :, 0, 0, 0], x[0, :, :2, :2, :2].mean((1, 2, 3)))
    with pytest.raises(ValueError, match="1 or 2"):
        Downsample(channels=4, factor=4)


def test_causal_conv_ignores_future_frames():
    conv = CausalConv(dims=3, in_channels=2, out_channels=3, kernel_size=3, dilation=2)
    x = torch.randn(1, 2, 7, 5, 5)
    y = conv(x)
    assert y.shape == (1, 3, 7, 5, 5)
    x2 = x.clone()
    x2[:, :, 5:] += 1.0
    y2 = conv(x2)
    torch.testing.assert_close(y[:, :, :5], y2[:, :, :5])
    assert not torch.allclose(y[:, :, 5:], y2[:, :, 5:])


def test_causal_resnet_block_is_causal_1d():
    block = ResnetBlock(in_channels=4, dims=1, causal=True)
    x = torch.randn(1, 4, 10)
    x2 = x.clone()
    x2[..., 6:] -= 2.0
    torch.testing.assert_close(block(x)[..., :6], block(x2)[..., :6])


def test_conv_attention_matches_manual_single_head():
    attn = ConvAttention(channels=8, dims=2)
    x = torch.randn(1, 8, 3, 4)
    h = attn.norm(x)
    q, k, v = (m(h).flatten(2) for m in (attn.q, attn.k, attn.v))  # (1, C, S)
    w = (q.transpose(1, 2) @ k / math.sqrt(8)).softmax(-1)  # (1, S, S)
    ref = x + attn.proj_out((v @ w.transpose(1, 2)).reshape(1, 8, 3, 4))
    torch.testing.assert_close(attn(x), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_upsample_conv2d_on_the_input_grid_equals_upsampling_first(bias, channels_last):
    conv = torch.nn.Conv2d(8, 5, 3, padding=1, bias=bias)
    x = torch.randn(2, 8, 32, 40)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        want = conv(torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))
        got = upsample_conv2d(x, conv)  # 32 x 40 positions: the phase convolution
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert got.stride() == want.stride()  # the same memory layout
    assert not torch.equal(got, want)  # it did take the other path (taps summed first)
    with torch.no_grad():  # small grids and other convs upsample first: bit-identical
        small = x[:, :, :16, :16]
        ref = conv(torch.nn.functional.interpolate(small, scale_factor=2.0, mode="nearest"))
        assert torch.equal(upsample_conv2d(small, conv), ref)
        strided = torch.nn.Conv2d(8, 5, 3, padding=1, stride=2)
        ref = strided(torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))
        assert torch.equal(upsample_conv2d(x, strided), ref)
    assert torch.equal(upsample_conv2d(x, conv), want.detach())  # autograd on: upsample first


def test_in_place_activation_and_residual_only_without_autograd():
    x = torch.randn(2, 4, 6, 6)
    for name in ("silu", "relu", "leaky_relu", "tanh", "gelu"):
        act = create_activation(name)
        h = x.clone()
        out = activate_(act, h)
        assert torch.equal(out, act(x))
        assert (out.data_ptr() == h.data_ptr()) == (name != "gelu")  # GELU has no in-place form
        h = x.clone().requires_grad_()
        assert torch.equal(activate_(act, h), act(x)) and torch.equal(h.detach(), x)
    h, skip = torch.randn(2, 4, 6, 6), torch.randn(2, 4, 6, 6)
    want = skip + h
    out = add_residual(h, skip)
    assert torch.equal(out, want) and out.data_ptr() == h.data_ptr()
    for other in (skip[:, :1], skip.double(), skip.contiguous(memory_format=torch.channels_last)):
        h2 = h.clone()
        out = add_residual(h2, other)  # broadcast, promotion, other layout: out of place
        assert torch.equal(out, other + h2) and out.data_ptr() != h2.data_ptr()


def test_resnet_block_and_attention_are_unchanged_by_inference_mode():
    block, attn = ResnetBlock(in_channels=8, out_channels=12), ConvAttention(channels=12)
    x = torch.randn(2, 8, 6, 6)
    want = attn(block(x))  # autograd on: no in-place work
    x_before = x.clone()
    with torch.inference_mode():
        assert torch.equal(attn(block(x)), want.detach())
    assert torch.equal(x, x_before)  # the input is never written
    none = ResnetBlock(in_channels=8, norm="none")  # norm "none": the activation must not
    with torch.no_grad():  # overwrite the block's input (the skip reads it again)
        assert torch.equal(none(x), x + none.conv2(none.act(none.conv1(none.act(x)))))
    assert torch.equal(x, x_before)


# ---------------------------------------------------------------- patches
@pytest.mark.parametrize(
    "shape,patch", [((2, 3, 12), 4), ((2, 3, 8, 12), 4), ((1, 2, 4, 6, 8), (2, 3, 4))]
)
def test_patchify_roundtrip(shape, patch):
    x = torch.randn(shape)
    tokens = patchify(x, patch)
    dims = len(shape) - 2
    p = (patch,) * dims if isinstance(patch, int) else patch
    grid = tuple(s // q for s, q in zip(shape[2:], p, strict=True))
    assert tokens.shape == (shape[0], math.prod(grid), math.prod(p) * shape[1])
    torch.testing.assert_close(unpatchify(tokens, patch, grid, shape[1]), x)


def test_patchify_feature_order_is_patch_then_channel():
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    t = patchify(x, 2)
    # first patch: pixels (0,0),(0,1),(1,0),(1,1), each with channels (0, 1)
    assert t[0, 0].tolist() == [0.0, 16.0, 1.0, 17.0, 4.0, 20.0, 5.0, 21.0]


def test_patch_embed_equals_linear_on_patchify_and_rejects_ragged():
    pe = PatchEmbed(in_channels=3, dim=6, patch_size=4)
    x = torch.randn(2, 3, 8, 12)
    w = pe.proj.weight.permute(0, 2, 3, 1).reshape(6, -1)  # (dim, p1*p2*C)
    ref = patchify(x, 4) @ w.T + pe.proj.bias
    torch.testing.assert_close(pe(x), ref, atol=1e-5, rtol=1e-5)
    assert pe.grid((8, 12)) == (2, 3)
    with pytest.raises(ValueError, match="not divisible"):
        pe(torch.randn(1, 3, 10, 12))
    with pytest.raises(ValueError, match=r"expected \(B, 6, 48\)"):
        unpatchify(torch.randn(1, 5, 48), 4, (2, 3), 3)


# ---------------------------------------------------------------- norms / activations
def test_norms_and_activations_by_name():
    gn = create_norm("groupnorm", 12)
    assert isinstance(gn, torch.nn.GroupNorm) and gn.num_groups == 4
    assert create_norm("groupnorm", 64).num_groups == 32
    assert isinstance(create_norm("rmsnorm", 8), torch.nn.RMSNorm)
    assert isinstance(create_activation("swish"), torch.nn.SiLU)
    with pytest.raises(ValueError, match="unknown norm 'batchnrm'"):
        create_norm("batchnrm", 8)
    with pytest.raises(ValueError, match="unknown activation"):
        create_activation("gleu")


@pytest.mark.parametrize("skip", [True, False])
def test_streamable_lstm_returns_a_contiguous_map_equal_to_the_plain_formula(skip):
    from zoo.layers.streaming import StreamableLSTM

    torch.manual_seed(0)
    m = StreamableLSTM(dim=8, num_layers=2, skip=skip).eval()
    x = torch.randn(2, 8, 13)
    seq = x.permute(2, 0, 1)
    with torch.no_grad():
        want = m.lstm(seq)[0] + (seq if skip else 0)
    want = want.permute(1, 2, 0)
    for grad in (True, False):
        with torch.set_grad_enabled(grad):
            y = m(x)
        # A transposed view would pass a channels-last layout on to every later conv.
        assert y.is_contiguous() and y.shape == (2, 8, 13)
        torch.testing.assert_close(y.detach(), want, rtol=1e-5, atol=1e-6)  # LSTM kernels differ
