"""Parametrized weights (weight norm) computed once at inference instead of on every call.

``torch.nn.utils.parametrizations.weight_norm`` recomputes ``g * v / ||v||`` at every access of
``module.weight``: on every forward, and so on every ``tokenize`` / ``detokenize`` call, though
the weights do not change between calls. :func:`inference_weight` returns the same value, cached
on the module while the module is in eval mode and autograd is off (``torch.no_grad`` /
``torch.inference_mode``), and recomputed as soon as a tensor it was computed from changes: an
in-place update (``optimizer.step()``, ``load_state_dict``, ``copy_``) bumps the tensor's version
counter, and a replaced tensor (``module.to(...)``, ``param.data = ...``) has another storage.
With autograd on, or in training mode, it is ``module.weight`` itself (gradients reach ``g`` and
``v``) and any cached copy is dropped.

``torch.nn.utils.parametrize.cached()`` does the same within one ``with`` block; this cache
outlives the call, at the cost of one folded copy of the weights while the model is in eval mode.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

_CACHE = "_zoo_inference_weight"


def _key(tensors: list[Tensor]) -> tuple | None:
    """What identifies the current value of ``tensors`` (None: not trackable, do not cache)."""
    key = []
    for t in tensors:
        if t.is_inference():  # no version counter: in-place changes would go unnoticed
            return None
        key.append((t.data_ptr(), t._version, t.dtype, t.device, t.shape))
    return tuple(key)


def inference_weight(module: nn.Module, name: str = "weight") -> Tensor:
    """``getattr(module, name)``, computed once while ``module`` is in eval mode with autograd
    off if it is parametrized (see the module docstring); plain weights are returned as is."""
    if not parametrize.is_parametrized(module, name):
        return getattr(module, name)
    if module.training or torch.is_grad_enabled():
        module.__dict__.pop(_CACHE, None)
        return getattr(module, name)
    plist = module.parametrizations[name]
    originals = [p for n, p in plist.named_parameters(recurse=False) if n.startswith("original")]
    key = _key(originals)
    cached = module.__dict__.get(_CACHE)
    if cached is not None and key is not None and cached[0] == key:
        return cached[2]
    with torch.inference_mode(False), torch.no_grad():
        # A normal tensor (not an inference tensor), so it can also be used later outside
        # inference mode; the aliases keep the originals' storages alive, so a freed storage's
        # address cannot come back as a "same" tensor with a different value.
        weight = getattr(module, name)
        aliases = [p.detach() for p in originals]
    if key is not None:
        module.__dict__[_CACHE] = (key, aliases, weight)
    return weight
