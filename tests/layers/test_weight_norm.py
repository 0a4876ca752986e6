"""zoo.layers.weight_norm: the inference cache of weight-normed weights is reused while nothing
changes and recomputed whenever a weight changes, the mode changes or autograd is on."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from zoo.layers.weight_norm import inference_weight


def _conv() -> nn.Module:
    torch.manual_seed(0)
    return weight_norm(nn.Conv1d(3, 4, 3)).eval()


def test_cached_in_eval_without_autograd_and_equal_to_the_parametrization():
    m = _conv()
    with torch.inference_mode():
        w = inference_weight(m)
        assert inference_weight(m) is w and not torch.is_inference(w)
    with torch.no_grad():
        assert inference_weight(m) is w
        assert torch.equal(w, m.weight)


def test_recomputed_after_in_place_updates_loads_and_dtype_changes():
    m = _conv()
    with torch.no_grad():
        w = inference_weight(m)
        m.parametrizations.weight.original1.mul_(2)  # direction only: weight unchanged
        m.parametrizations.weight.original0.mul_(3)
        w3 = inference_weight(m)
        assert w3 is not w and torch.allclose(w3, 3 * w)
    m.load_state_dict({k: -v for k, v in m.state_dict().items()})
    with torch.inference_mode():
        assert torch.equal(inference_weight(m), m.weight)
    m.double()
    with torch.no_grad():
        assert inference_weight(m).dtype == torch.float64


def test_training_or_autograd_uses_the_live_parametrization():
    m = _conv()
    with torch.no_grad():
        inference_weight(m)
    w = inference_weight(m)  # autograd on: gradients must reach g and v
    assert w.requires_grad and w.grad_fn is not None
    w.sum().backward()
    assert m.parametrizations.weight.original1.grad is not None
    m.train()
    with torch.no_grad():
        assert inference_weight(m) is not inference_weight(m)  # no cache in training mode


def test_plain_weights_pass_through():
    conv = nn.Conv1d(2, 2, 1).eval()
    with torch.no_grad():
        assert inference_weight(conv) is conv.weight
