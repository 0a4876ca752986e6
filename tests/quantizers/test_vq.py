"""Behaviour of the codebook VQ quantizer (``vq``) beyond the shared contract tests."""

from __future__ import annotations

import os
import warnings

import pytest
import torch
import torch.multiprocessing as mp
import vector_quantize_pytorch as vqp

from zoo.layers import prepacked
from zoo.quantizers import create_quantizer
from zoo.quantizers import vq as vq_module
from zoo.quantizers.vq import VQ


def _vq(**kwargs) -> VQ:
    return create_quantizer("vq", **{"dim": 8, "codebook_size": 16, **kwargs})


def _lookup(q: VQ, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattened lookup-space inputs and the effective codebook, for brute-force references."""
    with torch.no_grad():
        return q._to_lookup_space(z).reshape(-1, q.codebook_dim), q._effective_codebook()


# ---------------------------------------------------------------------- nearest neighbour
@pytest.mark.parametrize("distance", ["l2", "cosine"])
@pytest.mark.parametrize("codebook_dim", [None, 4])
@pytest.mark.parametrize("max_bytes", [None, 1, 64 * 4 * 3])
def test_codes_are_true_nearest_neighbours(distance, codebook_dim, max_bytes):
    torch.manual_seed(0)
    q = _vq(codebook_size=64, codebook_dim=codebook_dim, distance=distance).eval()
    if max_bytes is not None:
        q.max_distance_bytes = max_bytes  # 1 byte: 1 x 1 blocks; else 150 tokens x 1 code
    z = torch.randn(3, 50, 8)
    codes = q.encode(z)
    assert codes.shape == (3, 50, 1) and codes.dtype == torch.int64

    x, cb = _lookup(q, z)
    dist = torch.cdist(x.double(), cb.double())
    chosen = dist.gather(1, codes.reshape(-1, 1)).squeeze(1)
    best = dist.min(-1).values
    torch.testing.assert_close(chosen, best, atol=1e-5, rtol=0)
    # Away from float ties the index itself must match brute force.
    top2 = dist.topk(2, largest=False).values
    clear = (top2[:, 1] - top2[:, 0]) > 1e-4
    assert clear.sum() > 100
    assert torch.equal(codes.reshape(-1)[clear], dist.argmin(-1)[clear])
    assert torch.equal(q(z).codes, codes)


@pytest.mark.parametrize(
    ("codebook_size", "budget", "blocks"),
    [
        # Only 7 whole rows of 32 codes fit, fewer than the 50 tokens and than 256: the codebook
        # is split into column blocks instead, 50 rows x 4 codes (800 bytes <= 896).
        (32, 32 * 4 * 7, [(50, 4)] * 8),
        # 256 whole rows of 32 codes fit: plain row blocks.
        (32, 32 * 4 * 256, [(50, 32)]),
        # A wide codebook: 50 rows of 20 codes, the last block narrower.
        (70, 50 * 4 * 20, [(50, 20)] * 3 + [(50, 10)]),
    ],
)
@pytest.mark.parametrize("gemm", ["addmm", "onednn"])
def test_distance_blocks_respect_the_byte_budget(
    monkeypatch, codebook_size, budget, blocks, gemm
):
    # The budget is per intra-op thread: one thread, so the expected shapes are exact.
    if gemm == "onednn" and not prepacked.AVAILABLE:
        # oneDNN's packed GEMM is a feature of the torch build, not a package we can declare:
        # x86-64 wheels (CI, this machine) have it, some other builds do not. There the search
        # has no oneDNN path to test; it runs the addmm path, the other parametrization.
        pytest.skip("this PyTorch build has no oneDNN prepacked GEMM")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _check_blocks(monkeypatch, codebook_size, budget, blocks, gemm)
    finally:
        torch.set_num_threads(threads)


def _check_blocks(monkeypatch, codebook_size, budget, blocks, gemm):
    if gemm == "addmm":
        monkeypatch.setattr(prepacked, "AVAILABLE", False)
    q = _vq(codebook_size=codebook_size).eval()
    z = torch.randn(2, 25, 8)
    q.max_distance_bytes = VQ.max_distance_bytes  # one block of 50 tokens
    whole = q.encode(z)
    # Brute force: the same codes as the nearest codeword by torch.cdist.
    want = torch.cdist(z.reshape(-1, 8), q.codebook.float()).argmin(-1)
    assert torch.equal(whole.reshape(-1), want)
    shapes = []
    owner, name = (torch, "addmm") if gemm == "addmm" else (vq_module, "_onednn_scores")
    real = getattr(owner, name)

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        shapes.append(tuple(out.shape))
        return out

    q.max_distance_bytes = budget
    monkeypatch.setattr(owner, name, spy)
    codes = q.encode(z)
    monkeypatch.setattr(owner, name, real)
    assert shapes == blocks
    assert all(r * c * 4 <= budget for r, c in shapes)
    assert torch.equal(codes, whole)


def test_many_row_blocks_and_column_blocks_agree_with_brute_force():
    torch.manual_seed(2)
    q = _vq(codebook_size=600, distance="l2").eval()
    z = torch.randn(3, 400, 8)
    x, cb = _lookup(q, z)
    expected = torch.cdist(x.double(), cb.double()).argmin(-1)
    for budget in (VQ.max_distance_bytes, 600 * 4 * 300, 256 * 4 * 37, 256 * 4 * 8):
        q.max_distance_bytes = budget
        assert torch.equal(q.encode(z).reshape(-1), expected), budget
    cos = _vq(codebook_size=600, distance="cosine").eval()
    x, cb = _lookup(cos, z)
    expected = (x.double() @ cb.double().T).argmax(-1)
    for budget in (VQ.max_distance_bytes, 256 * 4 * 37):
        cos.max_distance_bytes = budget
        assert torch.equal(cos.encode(z).reshape(-1), expected), budget


def test_ties_go_to_the_lowest_index_across_column_blocks():
    q = _vq(codebook_size=40).eval()
    with torch.no_grad():
        q.codebook.copy_(torch.randn(1, 8).repeat(40, 1))  # every codeword the same
    z = torch.randn(1, 5, 8)
    q.max_distance_bytes = 5 * 4 * 7  # 5 rows x 7 codes per block
    assert q.encode(z).reshape(-1).tolist() == [0] * 5


def test_chunked_and_unchunked_lookup_agree_exactly():
    torch.manual_seed(1)
    q = _vq(codebook_size=128).eval()
    z = torch.randn(4, 33, 8)
    full = q.encode(z)
    q.max_distance_bytes = 128 * 4 * 5
    assert torch.equal(q.encode(z), full)


def test_cosine_output_is_the_unit_norm_codeword():
    torch.manual_seed(0)
    q = _vq(distance="cosine").eval()
    z = 5 * torch.randn(2, 10, 8)
    out = q(z)
    torch.testing.assert_close(out.quantized.norm(dim=-1), torch.ones(2, 10))
    cb = torch.nn.functional.normalize(q.codebook, dim=-1)
    torch.testing.assert_close(out.quantized, cb[out.codes[..., 0]])


# ---------------------------------------------------------------------- EMA
def test_ema_moves_codewords_towards_assigned_means():
    torch.manual_seed(0)
    q = _vq(ema=0.5).train()
    z = torch.randn(4, 64, 8)
    before = q.codebook.clone()
    codes = q(z).codes.reshape(-1)
    x = z.reshape(-1, 8)
    used = codes.unique()
    for k in range(16):
        if k in used:
            mean = x[codes == k].mean(0)
            assert (q.codebook[k] - mean).norm() < (before[k] - mean).norm()
        else:  # no assignment: EMA sum and size decay together, the codeword stays
            torch.testing.assert_close(q.codebook[k], before[k], rtol=1e-3, atol=1e-4)
    # Repeating the batch converges to a Lloyd fixed point: each code is its cluster's mean.
    for _ in range(40):
        codes = q(z).codes.reshape(-1)
    q.eval()
    codes = q.encode(z).reshape(-1)
    for k in codes.unique():
        torch.testing.assert_close(q.codebook[k], x[codes == k].mean(0), atol=1e-3, rtol=0)


def test_ema_update_uses_laplace_smoothed_cluster_sizes():
    torch.manual_seed(0)
    decay, eps = 0.7, 1e-5
    q = _vq(ema=decay).train()
    cb0 = q.codebook.clone()
    z = torch.randn(2, 20, 8)
    codes = q(z).codes.reshape(-1)
    counts = torch.bincount(codes, minlength=16).float()
    sums = torch.zeros(16, 8).index_add_(0, codes, z.reshape(-1, 8))
    size = decay + (1 - decay) * counts  # cluster sizes start at one
    total = size.sum()
    smoothed = (size + eps) / (total + 16 * eps) * total
    expect = (decay * cb0 + (1 - decay) * sums) / smoothed[:, None]
    torch.testing.assert_close(q.cluster_size, size)
    torch.testing.assert_close(q.codebook, expect, rtol=1e-6, atol=1e-7)

    # A code that is never chosen fades to the origin instead of dividing 0 by 0.
    q.codebook[0] = -1e3  # opposite the data: shrinking never brings it closer than them
    q.embed_sum[0] = -1e3 * q.cluster_size[0]
    for _ in range(80):  # cluster size 0.7^80 ~ 4e-13, far below eps
        q(z + 20)  # data away from the origin, so the fading code is never picked
    assert torch.isfinite(q.codebook).all()
    assert q.codebook[0].abs().max() < 1.0


def test_ema_codebook_is_a_buffer_and_gets_no_gradient():
    q = _vq(ema=0.9)
    assert "codebook" in dict(q.named_buffers())
    assert list(q.parameters()) == []
    z = torch.randn(2, 6, 8, requires_grad=True)
    out = q(z)
    (out.quantized.sum() + out.loss).backward()
    assert "codebook" not in out.metrics
    assert z.grad is not None


def test_no_state_change_in_eval_or_encode():
    torch.manual_seed(0)
    q = _vq(ema=0.8, kmeans_init=True, dead_code_threshold=1.0)
    state = {k: v.clone() for k, v in q.state_dict().items()}
    z = torch.randn(2, 12, 8)
    q.encode(z)  # training mode, but encode never updates
    q.eval()
    q(z)
    for k, v in q.state_dict().items():
        assert torch.equal(v, state[k]), k
    q.train()
    q(z)
    assert bool(q.initted)
    assert not torch.equal(q.state_dict()["cluster_size"], state["cluster_size"])


# ---------------------------------------------------------------------- dead codes
@pytest.mark.parametrize("ema", [None, 0.9])
def test_dead_codes_are_restarted_from_batch_vectors(ema):
    torch.manual_seed(0)
    q = _vq(ema=ema, dead_code_threshold=0.995).train()
    center = q.codebook[3].detach().clone()

    def batch():  # all data near codeword 3: every other code starves
        return center + 0.01 * torch.randn(2, 32, 8)

    q(batch())
    dead = (q.cluster_size < 0.995).nonzero().squeeze(1)
    assert len(dead) >= 10 and 3 not in dead
    alive_before = q.codebook.detach().clone()
    z = batch()
    out = q(z)
    assert float(out.metrics["restarted"]) == len(dead)
    x = z.reshape(-1, 8)
    gap = torch.cdist(q.codebook.detach()[dead], x).min(-1).values
    if ema is None:  # learned codebook: restarted rows are exactly batch vectors
        exact = (q.codebook.detach()[dead][:, None] == x[None]).all(-1).any(-1)
        assert torch.all(exact)
        keep = torch.ones(16, dtype=torch.bool)
        keep[dead] = False
        assert torch.equal(q.codebook.detach()[keep], alive_before[keep])
    else:  # EMA then pulls them towards their assigned means, inside the data cloud
        assert torch.all(gap < 0.05)
    # Restarted codes are now in use.
    assert out.codes.unique().numel() > 1 or q.encode(z).unique().numel() > 1


# ---------------------------------------------------------------------- k-means init
@pytest.mark.parametrize("distance", ["l2", "cosine"])
def test_kmeans_init_places_codes_on_the_data(distance):
    torch.manual_seed(0)
    centers = 4 * torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    z = (centers[torch.randint(4, (256,))] + 0.05 * torch.randn(256, 8)).view(4, 64, 8)
    q = _vq(ema=0.9, kmeans_init=True, kmeans_iters=20, distance=distance)
    assert not bool(q.initted)
    q.eval()
    q(z)
    assert not bool(q.initted), "k-means must not run in eval mode"
    q.train()
    q(z)
    assert bool(q.initted)
    ref = centers if distance == "l2" else torch.nn.functional.normalize(centers, dim=-1)
    gap = torch.cdist(q._effective_codebook().detach(), ref)
    assert torch.all(gap.min(1).values < 0.2), "every code sits on a cluster"
    assert torch.all(gap.min(0).values < 0.2), "every cluster has a code"
    # Lloyd iterations ran (seeds alone are single data points): each code is its cell's mean.
    x, cb = _lookup(q.eval(), z)
    codes = q.encode(z).reshape(-1)
    for k in codes.unique():
        mean = x[codes == k].mean(0)
        mean = torch.nn.functional.normalize(mean, dim=0) if distance == "cosine" else mean
        torch.testing.assert_close(cb[k], mean, atol=1e-3, rtol=0)


def test_kmeans_flag_round_trips_so_reloaded_models_do_not_reinit():
    torch.manual_seed(0)
    q = _vq(kmeans_init=True).train()  # learned codebook: forward itself never moves it
    q(torch.randn(2, 32, 8))
    fresh = _vq(kmeans_init=True)
    fresh.load_state_dict(q.state_dict())
    assert bool(fresh.initted)
    fresh.train()(100 + torch.randn(2, 32, 8))
    assert torch.equal(fresh.codebook, q.codebook)
    restarted = _vq(kmeans_init=True).train()
    restarted(100 + torch.randn(2, 32, 8))
    assert restarted.codebook.mean() > 50, "an un-initted model does run k-means"


# ---------------------------------------------------------------------- gradients
def test_rotation_trick_value_is_the_codeword_with_a_different_gradient():
    torch.manual_seed(0)
    st = _vq()
    rot = _vq(rotation_trick=True)
    rot.load_state_dict(st.state_dict())
    z0 = torch.randn(2, 10, 8)
    grads, outs = [], []
    for q in (st, rot):
        z = z0.clone().requires_grad_(True)
        out = q(z)
        out.quantized.pow(2).sum().backward()
        grads.append(z.grad)
        outs.append(out)
    assert torch.equal(outs[0].codes, outs[1].codes)
    assert torch.equal(outs[1].quantized, rot.codebook.detach()[outs[1].codes[..., 0]])
    assert torch.equal(outs[0].quantized, outs[1].quantized)
    torch.testing.assert_close(grads[0], 2 * outs[0].quantized.detach())  # straight-through
    assert not torch.allclose(grads[0], grads[1], atol=1e-3)


def test_rotation_trick_gradient_matches_vector_quantize_pytorch():
    """Value exactly the codeword; gradient (|q|/|z|) (I - 2 r r^T + 2 v u^T)^T g, the same as
    vector-quantize-pytorch's rotate_to (float64, so the comparison is to round-off)."""
    from vector_quantize_pytorch.vector_quantize_pytorch import rotate_to

    from zoo.quantizers._utils import rotation_trick

    g = torch.Generator().manual_seed(4)
    z = torch.randn(3, 40, 8, generator=g, dtype=torch.float64).requires_grad_(True)
    q = torch.randn(3, 40, 8, generator=g, dtype=torch.float64).requires_grad_(True)
    upstream = torch.randn(3, 40, 8, generator=g, dtype=torch.float64)
    out = rotation_trick(z, q)
    assert torch.equal(out, q)
    out.backward(upstream)
    assert q.grad is None  # the codeword gets no gradient through the trick
    z_ref = z.detach().clone().requires_grad_(True)
    rotate_to(z_ref, q.detach()).backward(upstream)
    torch.testing.assert_close(z.grad, z_ref.grad, rtol=1e-12, atol=1e-12)


def test_straight_through_gradient_is_identity():
    z = torch.randn(2, 5, 8, requires_grad=True)
    _vq()(z).quantized.sum().backward()
    assert torch.equal(z.grad, torch.ones_like(z))


def test_learned_codebook_gets_gradient_from_codebook_loss_only():
    torch.manual_seed(0)
    q = _vq(commitment_weight=0.0)
    assert isinstance(q.codebook, torch.nn.Parameter)
    z = torch.randn(2, 5, 8, requires_grad=True)
    out = q(z)
    out.quantized.sum().backward(retain_graph=True)
    assert q.codebook.grad is None, "straight-through output must not reach the codebook"
    out.loss.backward()
    used = torch.zeros(16, dtype=torch.bool)
    used[out.codes.unique()] = True
    assert torch.all(q.codebook.grad[~used] == 0)
    assert torch.all(q.codebook.grad[used].abs().sum(-1) > 0)
    # d/dq mean((sg(z) - q)^2) summed over the tokens assigned to each code.
    x, codes = z.detach().reshape(-1, 8), out.codes.reshape(-1)
    expect = torch.zeros(16, 8).index_add_(
        0, codes, 2 * (q.codebook.detach()[codes] - x) / x.numel()
    )
    torch.testing.assert_close(q.codebook.grad, expect)
    torch.testing.assert_close(out.metrics["codebook"], out.metrics["commitment"])


def test_simvq_codebook_is_frozen_and_w_learns():
    torch.manual_seed(0)
    q = _vq(simvq=True, codebook_dim=4)
    assert "codebook" in dict(q.named_buffers())
    assert all(p is not q.codebook for p in q.parameters())
    frozen = q.codebook.clone()
    effective = q._effective_codebook().detach().clone()
    torch.testing.assert_close(effective, frozen)  # W starts as the identity
    opt = torch.optim.SGD(q.parameters(), lr=0.5)
    for _ in range(3):
        out = q(torch.randn(2, 16, 8))
        opt.zero_grad()
        out.loss.backward()
        assert q.codebook_transform.weight.grad.abs().sum() > 0
        opt.step()
    assert torch.equal(q.codebook, frozen)
    assert not torch.allclose(q._effective_codebook().detach(), effective)
    q.eval()
    z = torch.randn(2, 7, 8)
    assert torch.equal(q.decode(q.encode(z)), q(z).quantized)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"simvq": True, "ema": 0.9},
        {"simvq": True, "kmeans_init": True},
        {"simvq": True, "dead_code_threshold": 1.0},
        {"distance": "dot"},
        {"ema": 1.0},
        {"ema": True},
        {"codebook_size": 1},
        {"codebook_dim": 0},
    ],
)
def test_bad_configs_are_rejected(kwargs):
    with pytest.raises(ValueError, match="VQ"):
        _vq(**kwargs)


# ---------------------------------------------------------------------- parity
@pytest.mark.parametrize("cosine", [False, True])
@pytest.mark.parametrize("codebook_dim", [None, 4])
def test_parity_with_vector_quantize_pytorch(cosine, codebook_dim):
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = vqp.VectorQuantize(
            dim=8, codebook_size=64, codebook_dim=codebook_dim, use_cosine_sim=cosine
        ).eval()
    q = _vq(
        codebook_size=64, codebook_dim=codebook_dim, distance="cosine" if cosine else "l2", ema=0.8
    ).eval()
    with torch.no_grad():
        q.codebook.copy_(ref._codebook.embed[0])
        if codebook_dim is not None:
            q.project_in.load_state_dict(ref.project_in.state_dict())
            q.project_out.load_state_dict(ref.project_out.state_dict())
    z = torch.randn(2, 40, 8)
    with torch.no_grad():
        ref_q, ref_codes, _ = ref(z)
    out = q(z)
    assert torch.equal(out.codes[..., 0], ref_codes)
    torch.testing.assert_close(out.quantized, ref_q, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------- distributed
def _ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        torch.manual_seed(0)  # same init on every rank ...
        synced = _vq(ema=0.8, kmeans_init=True, dead_code_threshold=0.7).train()
        ema_only = _vq(ema=0.8).train()
        data = torch.randn(2, 4, 3, 8)  # same draw everywhere; each rank takes its half
        torch.manual_seed(100 + rank)  # ... different sampling RNG per rank
        for step in range(4):
            synced(data[rank] + step)
            ema_only(data[rank])
        seeds = synced._sample_rows(data[rank].reshape(-1, 8), 5)
        torch.save(
            {"synced": synced.state_dict(), "ema_only": ema_only.state_dict(), "seeds": seeds},
            os.path.join(out_dir, f"rank{rank}.pt"),
        )
    finally:
        dist.destroy_process_group()


def test_distributed_statistics_keep_ranks_identical(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    states = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for name in ("synced", "ema_only"):
        for key, value in states[0][name].items():
            assert torch.equal(value, states[1][name][key]), (name, key)
    # The 2-rank EMA equals one process seeing both halves as one batch.
    torch.manual_seed(0)
    _vq(ema=0.8, kmeans_init=True, dead_code_threshold=0.7)  # replays the workers' RNG draws
    single = _vq(ema=0.8).train()
    data = torch.randn(2, 4, 3, 8)
    for _ in range(4):
        single(data.reshape(8, 3, 8))
    for key, value in single.state_dict().items():
        torch.testing.assert_close(states[0]["ema_only"][key], value, atol=1e-6, rtol=1e-5)
    # Data vectors for k-means seeds and restarts are rank 0's, broadcast to every rank.
    seeds = states[0]["seeds"]
    assert torch.equal(seeds, states[1]["seeds"])
    rank0 = data[0].reshape(-1, 8)
    assert (seeds[:, None] == rank0[None]).all(-1).any(-1).all()
