"""Patch embedding and its inverse for 1, 2 or 3 spatial axes (ViT, Dosovitskiy et al. 2021).

Layouts: signals channels first ``(B, C, *spatial)``; patch sequences channels last
``(B, N, features)`` in row-major order over the patch grid. Within a patch, flattened pixel
features are ordered ``(p_1, ..., p_dims, C)`` (channel fastest), the order TiTok's pixel head
uses (``'b (p1 p2 c) h w'``).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from zoo.layers.conv import _per_axis, conv_nd


def _grid(spatial: Sequence[int], patch: Sequence[int], who: str) -> tuple[int, ...]:
    if any(s % p for s, p in zip(spatial, patch, strict=True)):
        raise ValueError(
            f"{who}: spatial size {tuple(spatial)} is not divisible by patch size {tuple(patch)}"
        )
    return tuple(s // p for s, p in zip(spatial, patch, strict=True))


def patchify(x: Tensor, patch_size: int | Sequence[int]) -> Tensor:
    """``(B, C, *spatial)`` -> ``(B, N, prod(patch) * C)``, features ordered ``(p..., C)``."""
    dims = x.ndim - 2
    p = _per_axis(patch_size, dims, "patchify patch_size")
    g = _grid(x.shape[2:], p, "patchify")
    b, c = x.shape[:2]
    shape = [b, c]
    for gi, pi in zip(g, p, strict=True):
        shape += [gi, pi]
    x = x.reshape(shape)
    # axes: 0=B, 1=C, then (g_i, p_i) pairs at 2+2i, 3+2i
    grid_axes = [2 + 2 * i for i in range(dims)]
    patch_axes = [3 + 2 * i for i in range(dims)]
    x = x.permute(0, *grid_axes, *patch_axes, 1)
    n = 1
    for gi in g:
        n *= gi
    return x.reshape(b, n, -1)


def unpatchify(
    x: Tensor, patch_size: int | Sequence[int], grid: Sequence[int], channels: int
) -> Tensor:
    """Inverse of :func:`patchify`: ``(B, N, prod(patch) * C)`` -> ``(B, C, *grid * patch)``."""
    dims = len(grid)
    p = _per_axis(patch_size, dims, "unpatchify patch_size")
    n = 1
    for gi in grid:
        n *= gi
    feat = channels
    for pi in p:
        feat *= pi
    if x.ndim != 3 or x.shape[1] != n or x.shape[2] != feat:
        raise ValueError(
            f"unpatchify: expected (B, {n}, {feat}) for grid {tuple(grid)}, patch {p}, "
            f"{channels} channels; got {tuple(x.shape)}"
        )
    b = x.shape[0]
    x = x.reshape(b, *grid, *p, channels)
    # axes: 0=B, 1..dims = grid, dims+1..2dims = patch, last = C -> B, C, (g1 p1), (g2 p2), ...
    order = [0, 2 * dims + 1]
    for i in range(dims):
        order += [1 + i, 1 + dims + i]
    x = x.permute(order)
    return x.reshape(b, channels, *(gi * pi for gi, pi in zip(grid, p, strict=True)))


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens with a strided conv (equivalent to a linear layer on
    :func:`patchify` output).

    Args:
        in_channels: input channels; dim: token width; patch_size: int or per-axis sizes;
        dims: number of spatial axes.
    Returns from ``forward``: tokens ``(B, N, dim)`` row-major over the patch grid.
    """

    def __init__(
        self, *, in_channels: int, dim: int, patch_size: int | Sequence[int], dims: int = 2
    ) -> None:
        super().__init__()
        self.dims = dims
        self.patch_size = _per_axis(patch_size, dims, "PatchEmbed patch_size")
        self.proj = conv_nd(
            dims, in_channels, dim, self.patch_size, stride=self.patch_size, padding=0
        )

    def grid(self, spatial: Sequence[int]) -> tuple[int, ...]:
        """Patch-grid shape for an input of spatial size ``spatial`` (ValueError if ragged)."""
        return _grid(spatial, self.patch_size, "PatchEmbed")

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != self.dims + 2:
            raise ValueError(
                f"PatchEmbed: expected (B, C, {self.dims} spatial axes), got {tuple(x.shape)}"
            )
        self.grid(x.shape[2:])
        return self.proj(x).flatten(2).transpose(1, 2)
