"""The resumable distributed sampler: same global batches for any process count."""

import torch

from otmark.engine import EpochSampler, rank_indices
from otmark.engine.sampler import epoch_order


def test_order_is_a_seeded_permutation_per_epoch():
    a = epoch_order(10, seed=3, epoch=0)
    assert sorted(a) == list(range(10))
    assert a == epoch_order(10, 3, 0)
    assert a != epoch_order(10, 3, 1)
    g = torch.Generator()
    g.manual_seed(3 + 1)
    assert epoch_order(10, 3, 1) == torch.randperm(10, generator=g).tolist()


def test_two_ranks_make_the_same_global_batches_as_one():
    n, global_batch = 12, 4
    single = rank_indices(n, 7, 2)
    r0, r1 = rank_indices(n, 7, 2, 0, 2), rank_indices(n, 7, 2, 1, 2)
    half = global_batch // 2
    for i in range(n // global_batch):
        local = r0[i * half : (i + 1) * half] + r1[i * half : (i + 1) * half]
        assert sorted(local) == sorted(single[i * global_batch : (i + 1) * global_batch])


def test_padding_and_even_split():
    r = [rank_indices(7, 0, 0, k, 3) for k in range(3)]
    assert [len(x) for x in r] == [3, 3, 3]
    flat = sum(r, [])
    assert set(flat) == set(range(7)) and len(flat) == 9


def test_start_skips_local_items_and_eval_mode():
    s = EpochSampler(10, seed=1, rank=1, world=2)
    s.set_epoch(4)
    full = list(s)
    s.set_epoch(4, start=3)
    assert list(s) == full[3:] and len(s) == 2
    e = EpochSampler(5, rank=1, world=2, shuffle=False)
    assert list(e) == [1, 3]
