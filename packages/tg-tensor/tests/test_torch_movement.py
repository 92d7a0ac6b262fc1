"""Movement ops against PyTorch (forward and backward), their kernel counts, and their errors.

Views (pad, shrink, reshape, permute, expand, flip and what is built only from them: roll, repeat, split,
circular pad, ...) must not make a kernel of their own; cat, stack, tril, triu and reflect/replicate pads are
one kernel that fuses with what consumes them.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import TORCH_DTYPE, assert_same, check, rand

from tg_tensor import Tensor, dtypes

# (name, tg function, torch function, input shapes)
CASES = [
    ("reshape", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), [(2, 3, 4)]),
    ("reshape_tuple", lambda a: a.reshape((3, 8)), lambda a: a.reshape((3, 8)), [(2, 3, 4)]),
    ("reshape_0d", lambda a: a.reshape(1, 1), lambda a: a.reshape(1, 1), [()]),
    ("reshape_to_0d", lambda a: a.reshape(()), lambda a: a.reshape(()), [(1, 1)]),
    ("reshape_empty", lambda a: a.reshape(3, -1), lambda a: a.reshape(3, -1), [(0, 3)]),
    ("view", lambda a: a.view(3, 4), lambda a: a.view(3, 4), [(2, 6)]),
    ("view_of_permuted", lambda a: a.T.view(-1), lambda a: a.T.reshape(-1), [(2, 3)]),
    ("permute", lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), [(2, 3, 4)]),
    ("permute_neg", lambda a: a.permute((-1, 0, -2)), lambda a: a.permute((-1, 0, -2)), [(2, 3, 4)]),
    ("permute_0d", lambda a: a.permute(()), lambda a: a.permute(()), [()]),
    ("transpose", lambda a: a.transpose(0, -1), lambda a: a.transpose(0, -1), [(2, 3, 4)]),
    ("transpose_same", lambda a: a.transpose(1, 1), lambda a: a.transpose(1, 1), [(2, 3)]),
    ("T", lambda a: a.T, lambda a: a.T, [(2, 3)]),
    ("T_1d", lambda a: a.T, lambda a: a, [(3,)]),
    ("T_3d", lambda a: a.T, lambda a: a.permute(2, 1, 0), [(2, 3, 4)]),
    ("mT", lambda a: a.mT, lambda a: a.mT, [(2, 3, 4)]),
    ("flatten", lambda a: a.flatten(), lambda a: a.flatten(), [(2, 3, 4)]),
    ("flatten_mid", lambda a: a.flatten(1, -1), lambda a: a.flatten(1, -1), [(2, 3, 4)]),
    ("flatten_0d", lambda a: a.flatten(), lambda a: a.flatten(), [()]),
    ("flatten_empty", lambda a: a.flatten(0, 1), lambda a: a.flatten(0, 1), [(2, 0, 3)]),
    ("unflatten", lambda a: a.unflatten(1, (2, -1)), lambda a: a.unflatten(1, (2, -1)), [(2, 6)]),
    ("unflatten_neg", lambda a: a.unflatten(-1, (3, 1, 2)), lambda a: a.unflatten(-1, (3, 1, 2)), [(2, 6)]),
    ("unflatten_empty", lambda a: a.unflatten(1, (3, 0)), lambda a: a.unflatten(1, (3, 0)), [(2, 0)]),
    ("squeeze_all", lambda a: a.squeeze(), lambda a: a.squeeze(), [(1, 3, 1, 2)]),
    ("squeeze_dim", lambda a: a.squeeze(2), lambda a: a.squeeze(2), [(1, 3, 1, 2)]),
    ("squeeze_not_1", lambda a: a.squeeze(1), lambda a: a.squeeze(1), [(1, 3, 1, 2)]),
    ("squeeze_neg", lambda a: a.squeeze(-4), lambda a: a.squeeze(-4), [(1, 3, 1, 2)]),
    ("squeeze_tuple", lambda a: a.squeeze((0, 1, -2)), lambda a: a.squeeze((0, 1, -2)), [(1, 3, 1, 2)]),
    ("squeeze_0d", lambda a: a.squeeze(), lambda a: a.squeeze(), [()]),
    ("squeeze_0d_dim", lambda a: a.squeeze(-1), lambda a: a.squeeze(-1), [()]),
    ("squeeze_empty", lambda a: a.squeeze(), lambda a: a.squeeze(), [(1, 0, 1)]),
    ("unsqueeze_0d", lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1), [()]),
    ("unsqueeze", lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(1), [(2, 3)]),
    ("unsqueeze_neg", lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1), [(2, 3)]),
    ("expand", lambda a: a.expand(2, 3, 4), lambda a: a.expand(2, 3, 4), [(3, 1)]),
    ("expand_keep", lambda a: a.expand(-1, 5), lambda a: a.expand(-1, 5), [(3, 1)]),
    ("expand_0d", lambda a: a.expand(2, 3), lambda a: a.expand(2, 3), [()]),
    ("expand_to_empty", lambda a: a.expand(0, 3), lambda a: a.expand(0, 3), [(1, 3)]),
    ("repeat", lambda a: a.repeat(2, 1), lambda a: a.repeat(2, 1), [(2, 3)]),
    ("repeat_more", lambda a: a.repeat(2, 1, 3), lambda a: a.repeat(2, 1, 3), [(2, 3)]),
    ("repeat_list", lambda a: a.repeat([3, 2]), lambda a: a.repeat([3, 2]), [(2, 3)]),
    ("repeat_zero", lambda a: a.repeat(0, 2), lambda a: a.repeat(0, 2), [(2, 3)]),
    ("repeat_0d", lambda a: a.repeat(3), lambda a: a.repeat(3), [()]),
    ("repeat_0d_none", lambda a: a.repeat(()), lambda a: a.repeat(()), [()]),
    ("shrink", lambda a: a.shrink(((1, 3), None)), lambda a: a[1:3, :], [(4, 3)]),
    ("shrink_empty", lambda a: a.shrink(((1, 1), (0, 2))), lambda a: a[1:1, 0:2], [(4, 3)]),
    ("flip", lambda a: a.flip(0), lambda a: a.flip(0), [(3, 4)]),
    ("flip_many", lambda a: a.flip((0, -1)), lambda a: a.flip((0, -1)), [(2, 3, 4)]),
    ("flip_varargs", lambda a: a.flip(1, 2), lambda a: a.flip(1, 2), [(2, 3, 4)]),
    ("flip_none", lambda a: a.flip(()), lambda a: a.flip(()), [(2, 3)]),
    ("flip_0d", lambda a: a.flip(0), lambda a: a.flip(0), [()]),
    ("roll_flat", lambda a: a.roll(2), lambda a: a.roll(2), [(3, 4)]),
    ("roll_dims", lambda a: a.roll((1, -3), (0, 1)), lambda a: a.roll((1, -3), (0, 1)), [(3, 4)]),
    ("roll_big", lambda a: a.roll(7, -1), lambda a: a.roll(7, -1), [(3, 4)]),
    ("roll_same_dim", lambda a: a.roll((1, 1), (1, 1)), lambda a: a.roll((1, 1), (1, 1)), [(3, 4)]),
    ("roll_full_turn", lambda a: a.roll(4, 1), lambda a: a.roll(4, 1), [(3, 4)]),
    ("roll_0d", lambda a: a.roll(1), lambda a: a.roll(1), [()]),
    ("roll_empty", lambda a: a.roll(1, 1), lambda a: a.roll(1, 1), [(3, 0)]),
    ("cat", lambda a, b, c: a.cat(b, c), lambda a, b, c: torch.cat([a, b, c]), [(2, 3), (1, 3), (4, 3)]),
    ("cat_dim1", lambda a, b: Tensor.cat([a, b], dim=1), lambda a, b: torch.cat([a, b], 1), [(2, 3), (2, 1)]),
    ("cat_neg", lambda a, b: a.cat(b, dim=-1), lambda a, b: torch.cat([a, b], -1), [(2, 2, 3), (2, 2, 2)]),
    ("cat_one", lambda a: Tensor.cat([a], dim=1), lambda a: torch.cat([a], 1), [(2, 3)]),
    ("cat_same", lambda a: a.cat(a * 2, a, dim=0), lambda a: torch.cat([a, a * 2, a]), [(2, 3)]),
    ("stack", lambda a, b: Tensor.stack([a, b]), lambda a, b: torch.stack([a, b]), [(2, 3), (2, 3)]),
    ("stack_last", lambda a, b: a.stack(b, dim=-1), lambda a, b: torch.stack([a, b], -1), [(2, 3), (2, 3)]),
    ("stack_mid", lambda a, b, c: Tensor.stack([a, b, c], 1), lambda a, b, c: torch.stack([a, b, c], 1), [(2, 3)] * 3),
    ("stack_0d", lambda a, b: Tensor.stack([a, b]), lambda a, b: torch.stack([a, b]), [(), ()]),
]

TRIANGLES = [((3, 4), k) for k in (-3, -1, 0, 1, 2, 4)] + [((4, 3), -1), ((2, 3, 4), 1), ((1, 1), 0), ((5, 1), -2)]


@pytest.mark.parametrize("name, tg_fn, th_fn, shapes", CASES, ids=[c[0] for c in CASES])
def test_against_torch(name, tg_fn, th_fn, shapes):
    check(tg_fn, th_fn, *shapes)


@pytest.mark.parametrize("shape, k", TRIANGLES, ids=[f"{s}-k{k}" for s, k in TRIANGLES])
@pytest.mark.parametrize("op", ["tril", "triu"])
def test_tril_triu(op, shape, k):
    check(lambda a: getattr(a, op)(k), lambda a: getattr(torch, op)(a, k), shape)


def test_tril_triu_empty_int_and_bool():
    check(lambda a: a.tril(), lambda a: a.tril(), (0, 3))
    check(lambda a: a.triu(1), lambda a: a.triu(1), (2, 0, 3))
    for arr in (rand(3, 4, dtype=np.int32, low=-5, high=5), rand(3, 4, dtype=np.bool_)):
        assert_same(Tensor(arr).tril(1), torch.tensor(arr).tril(1))
        assert_same(Tensor(arr).triu(-1), torch.tensor(arr).triu(-1))
        assert Tensor(arr).tril().dtype == Tensor(arr).dtype


# ---- pad


PADS = [
    ("pairs", lambda a: a.pad(((1, 2), (0, 1))), lambda a: F.pad(a, (0, 1, 1, 2))),
    ("pairs_none", lambda a: a.pad((None, (2, 0))), lambda a: F.pad(a, (2, 0))),
    ("flat_last", lambda a: a.pad((1, 2)), lambda a: F.pad(a, (1, 2))),
    ("flat_two", lambda a: a.pad([1, 0, 2, 1]), lambda a: F.pad(a, [1, 0, 2, 1])),
    ("value", lambda a: a.pad((1, 1, 1, 1), value=1.5), lambda a: F.pad(a, (1, 1, 1, 1), value=1.5)),
    ("value_positional", lambda a: a.pad(((1, 0), (0, 2)), -2.0), lambda a: F.pad(a, (0, 2, 1, 0), value=-2.0)),
    ("value_inf", lambda a: a.pad((1, 1), value=float("-inf")), lambda a: F.pad(a, (1, 1), value=float("-inf"))),
    ("crop", lambda a: a.pad((-1, 2)), lambda a: F.pad(a, (-1, 2))),
    ("crop_value", lambda a: a.pad((-1, -2, 1, -1), value=3.0), lambda a: F.pad(a, (-1, -2, 1, -1), value=3.0)),
    ("crop_all", lambda a: a.pad((-2, -2)), lambda a: F.pad(a, (-2, -2))),
    ("nothing", lambda a: a.pad(()), lambda a: F.pad(a, ())),
]


@pytest.mark.parametrize("name, tg_fn, th_fn", PADS, ids=[p[0] for p in PADS])
def test_pad_constant(name, tg_fn, th_fn):
    check(tg_fn, th_fn, (3, 4))


def test_pad_constant_corners():
    check(lambda a: a.pad((1, 2)), lambda a: F.pad(a, (1, 2)), (2, 0))  # empty input, non-empty result
    check(lambda a: a.pad((1, 2)), lambda a: F.pad(a, (1, 2)), (0, 2))  # empty result
    check(lambda a: a.pad((1, 1, 1, 1, 1, 1)), lambda a: F.pad(a, (1, 1, 1, 1, 1, 1)), (2, 2, 2))
    check(lambda a: a.pad(()), lambda a: F.pad(a, ()), ())
    ints = rand(5, dtype=np.int32, low=-9, high=9)
    assert_same(Tensor(ints).pad((1, 2), value=2.7), F.pad(torch.tensor(ints), (1, 2), value=2.7))  # truncated
    assert Tensor(ints).pad((1, 2), value=2.7).dtype == dtypes.int32
    bools = rand(2, 3, dtype=np.bool_)
    assert_same(Tensor(bools).pad((1, 1), value=True), F.pad(torch.tensor(bools), (1, 1), value=True))


MODE_PADS = [(1, 2), (2, 0, 1, 2), (-1, 2), (2, -1, -1, 1), (1, 1, 2, 2, 1, 0)]


@pytest.mark.parametrize("pad", MODE_PADS, ids=[str(p) for p in MODE_PADS])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes(mode, pad):
    shape = (2, 3, 4) if len(pad) < 6 else (1, 2, 3, 4)
    check(lambda a: a.pad(pad, mode=mode), lambda a: F.pad(a, pad, mode=mode), shape)


NP_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_any_axis_against_numpy(mode):
    # PyTorch limits these modes to the last axes of a batched input; tg pads any axis (here all of them)
    a = rand(3, 4, 2)
    pairs = ((2, 1), (0, 3), (1, 1))
    np.testing.assert_array_equal(Tensor(a).pad(pairs, mode).numpy(), np.pad(a, pairs, mode=NP_MODE[mode]))
    np.testing.assert_array_equal(
        Tensor(a[0, :, 0]).pad((3, 2), mode).numpy(), np.pad(a[0, :, 0], (3, 2), NP_MODE[mode])
    )


def test_pad_modes_of_ints():
    x = rand(2, 5, dtype=np.int32, low=-9, high=9)
    for mode in ("reflect", "replicate", "circular"):
        assert_same(Tensor(x).pad((2, 3), mode=mode), F.pad(torch.tensor(x)[None], (2, 3), mode=mode)[0])


# ---- split and chunk: every piece compared, and gradients through all of them at once


def _pieces_check(tg_split, th_split, shape):
    a = rand(*shape)
    t, th = Tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    got, want = tg_split(t), th_split(th)
    assert isinstance(got, list)
    assert len(got) == len(want), f"{len(got)} pieces, torch {len(want)}"
    for g, w in zip(got, want):
        assert_same(g, w)
    if a.size:  # weigh each piece differently so that every piece's gradient is checked
        Tensor.stack([(g * (i + 1)).sum() for i, g in enumerate(got)]).sum().backward()
        torch.stack([(w * (i + 1)).sum() for i, w in enumerate(want)]).sum().backward()
        assert_same(t.grad, th.grad)


SPLITS = [
    ("even", 2, 0, (4, 3)),
    ("uneven", 2, 0, (5, 3)),
    ("larger", 7, 1, (2, 5)),
    ("neg_dim", 3, -1, (2, 7)),
    ("sections", [1, 3, 1], 0, (5, 2)),
    ("sections_zero", [2, 0, 3], 1, (2, 5)),
    ("sections_one", (5,), 1, (2, 5)),
    ("empty_axis", 2, 0, (0, 3)),
    ("empty_axis_size0", 0, 0, (0, 3)),
]


@pytest.mark.parametrize("name, size, dim, shape", SPLITS, ids=[s[0] for s in SPLITS])
def test_split(name, size, dim, shape):
    _pieces_check(lambda t: t.split(size, dim), lambda t: torch.split(t, size, dim), shape)


CHUNKS = [
    (4, 0, (4, 3)),
    (3, 0, (5, 3)),
    (4, 0, (6, 2)),
    (4, 1, (2, 5)),
    (10, -1, (2, 3)),
    (1, 0, (3,)),
    (3, 0, (0, 2)),
]


@pytest.mark.parametrize("chunks, dim, shape", CHUNKS, ids=[f"{c}-{d}-{s}" for c, d, s in CHUNKS])
def test_chunk(chunks, dim, shape):
    _pieces_check(lambda t: t.chunk(chunks, dim), lambda t: torch.chunk(t, chunks, dim), shape)


# ---- cat and stack: call forms, dtypes, empty inputs


def test_cat_and_stack_call_forms():
    a, b, c = Tensor([[1, 2]]), Tensor([[3, 4]]), Tensor([[5, 6]])
    want = [[1, 2], [3, 4], [5, 6]]
    assert a.cat(b, c).tolist() == want
    assert a.cat(b, c, dim=0).tolist() == want
    assert Tensor.cat([a, b, c]).tolist() == want
    assert Tensor.cat((a, b, c), dim=0).tolist() == want
    assert Tensor.cat([a, b, c], 1).tolist() == [[1, 2, 3, 4, 5, 6]]
    assert Tensor.cat(a, b, c, dim=1).tolist() == [[1, 2, 3, 4, 5, 6]]
    assert a.cat(b, 1).tolist() == [[1, 2, 3, 4]]
    assert Tensor.stack([a, b], 0).shape == (2, 1, 2)
    assert Tensor.stack((a, b), dim=2).tolist() == [[[1, 3], [2, 4]]]
    assert a.stack(b, c, dim=-1).shape == (1, 2, 3)
    assert Tensor.stack(a, b).shape == (2, 1, 2)


DTYPE_MIXES = [
    (np.int32, np.bool_),
    (np.int32, np.float16),
    (np.int8, np.uint8),
    (np.bool_, np.bool_),
    (np.float32, np.float64),
    (np.int32, np.bool_, np.float16),
]


@pytest.mark.parametrize("mix", DTYPE_MIXES, ids=["-".join(np.dtype(d).name for d in m) for m in DTYPE_MIXES])
def test_cat_promotes_like_torch(mix):
    arrays = [rand(2, 3, dtype=d, low=-3, high=3, seed=i) for i, d in enumerate(mix)]
    got = Tensor.cat([Tensor(x) for x in arrays], dim=1)
    want = torch.cat([torch.tensor(x) for x in arrays], dim=1)
    assert TORCH_DTYPE[got.dtype] == want.dtype
    assert_same(got, want)
    got_s = Tensor.stack([Tensor(x) for x in arrays])
    assert TORCH_DTYPE[got_s.dtype] == torch.stack([torch.tensor(x) for x in arrays]).dtype


def test_cat_with_empty_tensors():
    # empty inputs contribute nothing (and get no gradient: only the non-empty ones are joined)
    check(lambda a, b: a.cat(b), lambda a, b: torch.cat([a, b]), (0, 3), (2, 3), grad=False)
    check(lambda a, b, c: a.cat(b, c), lambda a, b, c: torch.cat([a, b, c]), (2, 3), (0, 3), (1, 3), grad=False)
    check(lambda a, b: a.cat(b, dim=1), lambda a, b: torch.cat([a, b], 1), (0, 3), (0, 2), grad=False)
    check(lambda a, b: a.cat(b), lambda a, b: torch.cat([a, b]), (0,), (0,), grad=False)
    # PyTorch's legacy rule: a 1-D empty tensor is skipped next to tensors of any rank
    check(lambda a, b: a.cat(b, dim=1), lambda a, b: torch.cat([a, b], 1), (2, 3), (0,), grad=False)
    x = Tensor(rand(2, 3), requires_grad=True)
    (x.cat(Tensor.zeros(0, 3)) * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0, np.float32))


def test_cat_keeps_special_values():
    a = np.array([np.inf, -np.inf, np.nan, 1.0], np.float32)
    got = Tensor(a).cat(Tensor(a[::-1].copy())).numpy()
    np.testing.assert_array_equal(got, np.concatenate([a, a[::-1]]))


# ---- laziness: views make no kernel, joins make one that fuses


@pytest.fixture
def realized():
    return Tensor(rand(3, 4)).realize(), Tensor(rand(3, 4, seed=1)).realize()


FREE = [
    ("pad", lambda t: t.pad((1, 2, 0, 1))),
    ("pad_crop", lambda t: t.pad((-1, 2))),
    ("pad_circular", lambda t: t.pad((2, 1, 1, 3), mode="circular")),
    ("shrink", lambda t: t.shrink(((1, 2), None))),
    ("flip", lambda t: t.flip(0, 1)),
    ("roll", lambda t: t.roll((1, 2), (0, 1))),
    ("roll_flat", lambda t: t.roll(5)),
    ("repeat", lambda t: t.repeat(2, 1, 3)),
    ("expand", lambda t: t.reshape(3, 1, 4).expand(3, 5, 4)),
    ("unflatten", lambda t: t.unflatten(1, (2, 2))),
    ("squeeze", lambda t: t.reshape(1, 3, 1, 4).squeeze()),
    ("mT", lambda t: t.reshape(1, 3, 4).mT),
    ("split_piece", lambda t: t.split(2, 1)[1]),
    ("chunk_piece", lambda t: t.chunk(2)[1]),
]


@pytest.mark.parametrize("name, fn", FREE, ids=[f[0] for f in FREE])
def test_views_are_free(kernels, realized, name, fn):
    assert kernels(fn(realized[0])) == 0
    assert kernels(fn(realized[0]) * 2 + 1) == 1  # and they fold into the consumer's indexing


JOINS = [
    ("cat", lambda a, b: a.cat(b, a, dim=1)),
    ("stack", lambda a, b: Tensor.stack([a, b, a], dim=1)),
    ("tril", lambda a, b: a.tril(1) + b.triu()),
    ("pad_reflect", lambda a, b: a.pad((2, 1, 1, 2), mode="reflect")),
    ("pad_replicate", lambda a, b: a.pad((2, 1, 1, 2), mode="replicate")),
    ("pad_value", lambda a, b: a.pad((1, 1), value=2.0)),
]


@pytest.mark.parametrize("name, fn", JOINS, ids=[j[0] for j in JOINS])
def test_joins_are_one_kernel_fused(kernels, realized, name, fn):
    a, b = realized
    assert kernels(fn(a, b)) == 1
    assert kernels((fn(a, b) * 2).exp() + 1) == 1
    assert kernels((fn(a, b) + 1).sum()) == 1


def test_cat_of_many_is_one_kernel(kernels):
    ts = [Tensor(rand(2, 3, seed=i)).realize() for i in range(8)]
    out = Tensor.cat(ts, dim=1)
    assert kernels(out) == 1
    np.testing.assert_array_equal(out.numpy(), np.concatenate([t.numpy() for t in ts], axis=1))


# ---- bad input raises at the call, naming the op and the shapes, and leaves the tensor as it was

A = Tensor(rand(2, 3))
V = Tensor(rand(4))

ERRORS = [
    (lambda: Tensor([1, 2, 3]).reshape(99, 99), ValueError, r"reshape.*\(3,\).*\(99, 99\)"),
    (lambda: A.reshape(-1, -1), ValueError, "reshape: only one dimension can be -1"),
    (lambda: A.reshape(4, -1), ValueError, r"reshape.*\(2, 3\)"),
    (lambda: A.reshape(-2, 3), ValueError, "reshape: invalid shape"),
    (lambda: A.reshape(2.0, 3), ValueError, "reshape: invalid shape"),
    (lambda: Tensor.zeros(0, 3).reshape(-1, 0), ValueError, "reshape"),
    (lambda: A.permute(0), ValueError, r"permute.*\(2, 3\)"),
    (lambda: A.permute(0, 0), ValueError, r"permute.*\(2, 3\)"),
    (lambda: A.permute(0, 2), IndexError, "permute"),
    (lambda: A.expand(4, 3), ValueError, r"expand.*\(2, 3\).*\(4, 3\)"),
    (lambda: A.expand(3), ValueError, r"expand.*\(2, 3\)"),
    (lambda: A.expand(-1, 2, 3), ValueError, "expand: -1 is not allowed"),
    (lambda: A.transpose(0, 2), IndexError, "transpose"),
    (lambda: V.mT, ValueError, r"mT.*\(4,\)"),
    (lambda: A.flatten(1, 0), ValueError, "flatten"),
    (lambda: A.flatten(2), IndexError, "flatten"),
    (lambda: A.unflatten(1, (2, 2)), ValueError, r"unflatten.*\(2, 3\)"),
    (lambda: A.unflatten(1, (2, -1)), ValueError, r"unflatten.*\(2, 3\)"),
    (lambda: A.unflatten(1, ()), ValueError, "unflatten: sizes must be non-empty"),
    (lambda: Tensor(1.0).unflatten(0, (1,)), ValueError, "unflatten"),
    (lambda: A.squeeze(2), IndexError, "squeeze"),
    (lambda: A.squeeze((0, -2)), ValueError, "squeeze.*more than once"),
    (lambda: A.unsqueeze(3), IndexError, "unsqueeze"),
    (lambda: A.repeat(2), ValueError, r"repeat.*\(2, 3\)"),
    (lambda: A.repeat(2, -1), ValueError, "repeat"),
    (lambda: A.shrink(((0, 3), (0, 3))), ValueError, r"shrink.*\(2, 3\)"),
    (lambda: A.shrink(((0, 1),)), ValueError, r"shrink.*\(2, 3\)"),
    (lambda: A.flip(0, -2), ValueError, "flip.*more than once"),
    (lambda: A.flip(2), IndexError, "flip"),
    (lambda: A.roll((1, 2), 0), ValueError, "roll"),
    (lambda: A.roll((1, 2)), ValueError, "roll"),
    (lambda: A.roll(1, 2), IndexError, "roll"),
    (lambda: V.tril(), ValueError, r"tril.*\(4,\)"),
    (lambda: V.triu(), ValueError, r"triu.*\(4,\)"),
    (lambda: A.pad(((1, 1), (1, 1), (1, 1))), ValueError, r"pad: 3 .* pairs .*\(2, 3\)"),
    (lambda: A.pad(((1, 1),)), ValueError, r"pad: 1 .* pairs .*\(2, 3\)"),
    (lambda: A.pad((1, 1, 1, 1, 1, 1)), ValueError, r"pad: .* pads 3 axes .*\(2, 3\)"),
    (lambda: A.pad((1, 1, 1)), ValueError, "pad: a flat padding needs an even number"),
    (lambda: A.pad(((1, 1), 2)), TypeError, "pad"),
    (lambda: A.pad(((1, 2, 3), (1, 1))), ValueError, "pad"),
    (lambda: A.pad((-2, -2)), ValueError, r"pad.*\(2, 3\)"),
    (lambda: A.pad((3, 0), mode="reflect"), ValueError, r"reflect .* \(2, 3\)"),
    (lambda: A.pad((0, 0, 0, 2), mode="reflect"), ValueError, r"reflect .* \(2, 3\)"),
    (lambda: A.pad((4, 0), mode="circular"), ValueError, r"circular .* \(2, 3\)"),
    (lambda: Tensor.zeros(2, 0).pad((1, 0), mode="replicate"), ValueError, r"replicate .* \(2, 0\)"),
    (lambda: A.pad((1, 1), mode="wrap"), ValueError, "pad: mode must be one of"),
    (lambda: A.pad((1, 1), mode="reflect", value=1.0), ValueError, "pad: mode 'reflect' does not take a value"),
    (lambda: A.cat(Tensor(rand(2, 4))), ValueError, r"cat.*\(2, 3\).*\(2, 4\)"),
    (lambda: A.cat(Tensor(rand(2, 3, 1))), ValueError, r"cat.*\(2, 3\).*\(2, 3, 1\)"),
    (lambda: A.cat(A, dim=2), IndexError, "cat"),
    (lambda: Tensor(1.0).cat(Tensor(2.0)), ValueError, "cat: a 0-d tensor"),
    (lambda: Tensor.cat([]), ValueError, "cat: expected a non-empty list"),
    (lambda: A.cat(np.ones((2, 3))), TypeError, "cat: expected tensors"),
    (lambda: A.cat(A, 0, dim=0), TypeError, "cat: dim given twice"),
    (lambda: Tensor.cat([A], A), TypeError, "cat"),
    (lambda: Tensor.stack([A, Tensor(rand(3, 2))]), ValueError, r"stack.*\(2, 3\).*\(3, 2\)"),
    (lambda: Tensor.stack([A, A], dim=3), IndexError, "stack"),
    (lambda: A.split([1, 1], 1), ValueError, r"split.*\(2, 3\)"),
    (lambda: A.split([2, -1, 2], 1), ValueError, r"split.*\(2, 3\)"),
    (lambda: A.split(0, 1), ValueError, r"split.*\(2, 3\)"),
    (lambda: A.split(1, 2), IndexError, "split"),
    (lambda: Tensor(1.0).split(1), ValueError, "split"),
    (lambda: A.chunk(0), ValueError, "chunk: chunks must be > 0"),
    (lambda: A.chunk(2, -3), IndexError, "chunk"),
]


@pytest.mark.parametrize("fn, exc, match", ERRORS, ids=[f"{i}-{e[2][:24]}" for i, e in enumerate(ERRORS)])
def test_errors_raise_at_the_call(fn, exc, match):
    before = (A.uop, V.uop)
    with pytest.raises(exc, match=match):
        fn()
    assert (A.uop, V.uop) == before  # nothing was changed


def test_tensor_still_usable_after_errors():
    t = Tensor(rand(2, 3))
    for bad in (lambda: t.reshape(5), lambda: t.pad((9, 0), mode="reflect"), lambda: t.cat(Tensor(rand(2, 4)))):
        with pytest.raises(ValueError):
            bad()
    assert_same(t.pad((1, 0), mode="reflect"), F.pad(torch.tensor(t.numpy())[None], (1, 0), mode="reflect")[0])
