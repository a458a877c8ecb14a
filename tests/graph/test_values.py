import numpy as np

from taylorprune.graph.ops_shape import dim_groups
from taylorprune.graph.values import Chan, UnionFind, expand, simplify


def test_union_find_joins_classes():
    uf = UnionFind()
    a, b = uf.fresh(3), uf.fresh(3)
    uf.union_arrays(a, b[::-1])
    roots = uf.roots()
    assert roots[a[0]] == roots[b[2]] and roots[a[1]] == roots[b[1]]
    assert len(set(roots.tolist())) == 3


def test_simplify_drops_constant_axes():
    ids = np.broadcast_to(np.arange(4)[:, None, None], (4, 2, 3))  # (C, H, W), same id per channel
    chan = simplify((1, 4, 2, 3), (1, 2, 3), ids)
    assert chan.dims == (1,) and chan.ids.tolist() == [0, 1, 2, 3]


def test_expand_broadcasts_over_new_dims():
    chan = Chan((1, 2, 3), (1,), np.array([7, 8]))
    assert expand(chan, (1, 2)).tolist() == [[7, 7, 7], [8, 8, 8]]


def test_dim_groups_pairs_view_runs():
    assert dim_groups((2, 6, 4, 4), (2, 96)) == [([0], [0]), ([1, 2, 3], [1])]
    assert dim_groups((2, 8, 3, 3), (2, 2, 4, 3, 3)) == [
        ([0], [0]),
        ([1], [1, 2]),
        ([2], [3]),
        ([3], [4]),
    ]
    assert dim_groups((2, 6, 1, 1), (2, 6)) == [([0], [0]), ([1], [1]), ([2], []), ([3], [])]
