"""Linear algebra, convolution, pooling and resampling: matmul, linear, einsum, conv (1-3 d and N-d),
conv_transpose, max/avg pooling, adaptive pooling, interpolate.

Convolutions and pools share one idea: pad the input, then view it as sliding windows (..., *out, *kernel) with
movement ops only (`_windows`), so a convolution is a broadcast multiply and one sum, a single kernel. Their
gradients are declared, not derived (`apply_with_gradient`): a convolution's input gradient is a transposed
convolution, its weight gradient a reduction over batch and space; a tiling max pool's is computed in the
input's layout.

>>> from tg_tensor import Tensor
>>> (Tensor([[1.0, 2.0]]) @ Tensor([[3.0], [4.0]])).tolist()
[[11.0]]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self, TypeVar, cast

import numpy as np

from tg_tensor.errors import ArgumentError
from tg_tensor.indexing import IndexingMixin
from tg_uop.dtype import dtypes, least_upper_dtype, least_upper_float
from tg_uop.helpers import prod

T = TypeVar("T", bound="FunctionalMixin")  # the tensor type the module's helper functions take and return

_Pairs = list[tuple[int, int]]


def _per_dim(value: int | Sequence[int], nd: int, what: str, op: str, low: int = 1) -> tuple[int, ...]:
    """An int (the same for every spatial dim) or one int per spatial dim, each at least `low`."""
    vals = (value,) * nd if isinstance(value, int) else tuple(value)
    if len(vals) != nd or any(not isinstance(v, int) or v < low for v in vals):
        raise ArgumentError(f"{op}: {what} must be an int >= {low} or {nd} of them, got {value!r}")
    return vals


def _padding_pairs(padding: int | Sequence[int], nd: int, op: str) -> _Pairs:
    """(before, after) per spatial dim from an int, one int per dim, or 2*nd ints ordered like torch's F.pad
    (last dim first: left, right, top, bottom, ...), as tinygrad's conv2d takes them."""
    if isinstance(padding, int):
        padding = (padding,) * nd
    vals = tuple(padding)
    if any(not isinstance(v, int) or v < 0 for v in vals) or len(vals) not in (nd, 2 * nd):
        raise ArgumentError(
            f"{op}: padding must be an int >= 0, {nd} or {2 * nd} of them, 'same' or 'valid', got {padding!r}"
        )
    if len(vals) == nd:
        return [(p, p) for p in vals]
    return [(vals[2 * i], vals[2 * i + 1]) for i in reversed(range(nd))]


def _pad_or_crop(x: T, pairs: _Pairs, value: float = 0.0) -> T:
    """Pad the last len(pairs) dims by (before, after); a negative amount crops that many elements instead."""
    lead = [(0, s) for s in x.shape[: x.ndim - len(pairs)]]
    spatial = x.shape[x.ndim - len(pairs) :]
    if any(b < 0 or a < 0 for b, a in pairs):
        x = x.shrink(lead + [(max(-b, 0), s - max(-a, 0)) for (b, a), s in zip(pairs, spatial, strict=True)])
    if any(b > 0 or a > 0 for b, a in pairs):
        x = x.pad([(0, 0)] * len(lead) + [(max(b, 0), max(a, 0)) for b, a in pairs], value)
    return x


def _window_axis(x: T, axis: int, k: int, s: int, d: int) -> T:
    """Replace `axis` (length n) by two axes (o, k) holding out[..., i, j, ...] = x[..., i*s + j*d, ...], where
    o = (n - d*(k-1) - 1) // s + 1 windows fit. Movement only, so the result is a view: no copy, no gather."""
    n = x.shape[axis]
    o = (n - d * (k - 1) - 1) // s + 1
    pre, post = x.shape[:axis], x.shape[axis + 1 :]

    def keep(t: T, ax: int, end: int) -> T:  # elements [0, end) of one axis
        return t.shrink([(0, e) if i != ax else (0, end) for i, e in enumerate(t.shape)])

    def resize(t: T, ax: int, size: int) -> T:  # zero-pad or crop one axis at its end to `size`
        have = t.shape[ax]
        return keep(t, ax, size) if size <= have else t.pad([(0, size - have if i == ax else 0) for i in range(t.ndim)])

    if k * d <= s:
        # windows do not overlap: rows of s elements, then the first k*d of each row, every d-th of those
        x = resize(x, axis, o * s).reshape(*pre, o, s, *post)
        x = keep(x, axis + 1, k * d).reshape(*pre, o, k, d, *post)
        return keep(x, axis + 2, 1).reshape(*pre, o, k, *post)
    # overlapping windows: repeat the axis R times end to end and read it in rows one element longer than
    # dilation d, so that row j starts j*d further into the data; window i then sits at column i*s of each row.
    # m = max(n, o*s) makes the rows wide enough for every window start (elements past n are never read).
    m = max(n, o * s)
    x = resize(x, axis, m)
    width = m + d
    reps = -(-k * width // m)
    x = x.reshape(*pre, 1, m, *post).expand(*pre, reps, m, *post).reshape(*pre, reps * m, *post)
    x = keep(x, axis, k * width).reshape(*pre, k, width, *post)
    x = keep(x, axis + 1, o * s).reshape(*pre, k, o, s, *post)
    x = keep(x, axis + 2, 1).reshape(*pre, k, o, *post)
    return x.transpose(axis, axis + 1)


def _windows(x: T, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> T:
    """The sliding windows of the last len(kernel) dims of x: (..., *spatial) -> (..., *out, *kernel)."""
    nd = len(kernel)
    lead = x.ndim - nd
    for i in range(nd):
        # each axis becomes (o, k), in place; the axes before it have doubled already
        x = _window_axis(x, lead + 2 * i, kernel[i], stride[i], dilation[i])
    order = [*range(lead), *(lead + 2 * i for i in range(nd)), *(lead + 2 * i + 1 for i in range(nd))]
    return x.permute(order)


def _check_fits(
    op: str, shape: tuple[int, ...], padded: Sequence[int], kernel: Sequence[int], dilation: Sequence[int]
) -> None:
    eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    if any(e > p for e, p in zip(eff, padded, strict=True)):
        raise ArgumentError(
            f"{op}: kernel {tuple(eff)} (with dilation) is larger than the padded input {tuple(padded)} "
            f"(input shape {shape})"
        )


def _operand_list(operands: tuple[T | Sequence[T], ...]) -> list[T]:
    """einsum's operands, given one by one or as one list (`einsum(eq, a, b)` or `einsum(eq, [a, b])`)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        return list(operands[0])
    return cast(list[T], list(operands))  # one by one: each is a tensor (einsum reads its shape)


def _einsum_terms(equation: str, ops: list[T]) -> tuple[list[str], str | None, list[str]]:
    """Split and check the equation: the operands' subscripts, the output's (None when implicit), and the labels
    of the broadcast dims ("...0", "...1", ...) that `...` stands for, as many as the operand with the most."""
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ops):
        raise ArgumentError(f"einsum: the equation {equation!r} has {len(terms)} operand(s) but {len(ops)} were given")
    for t in [*terms, rhs]:
        letters = t.replace("...", "", 1)
        if not all(c.isascii() and c.isalpha() for c in letters):
            raise ArgumentError(f"einsum: invalid subscripts {t!r} in {equation!r} (letters and one '...' only)")
    ell_nd = 0
    for t, x in zip(terms, ops, strict=True):
        n_letters = len(t.replace("...", ""))
        if ("..." in t and x.ndim < n_letters) or ("..." not in t and x.ndim != n_letters):
            raise ArgumentError(f"einsum: subscripts {t!r} do not fit operand of shape {x.shape} in {equation!r}")
        ell_nd = max(ell_nd, x.ndim - n_letters)
    return terms, rhs if arrow else None, [f"...{i}" for i in range(ell_nd)]


def _einsum_labels(t: str, nd: int, ell: list[str]) -> list[str]:
    """An operand's dims as labels: its letters, with the broadcast labels right-aligned where `...` stands."""
    head, dots, tail = t.partition("...")
    n_ell = nd - len(head) - len(tail) if dots else 0
    return [*head, *ell[len(ell) - n_ell :], *tail]


def _einsum_output(equation: str, terms: list[str], rhs: str | None, ell: list[str]) -> list[str]:
    """The output's labels: the explicit ones, or (implicit) the broadcast dims and the letters used once, sorted."""
    counts: dict[str, int] = {}
    for t in terms:
        for c in t.replace("...", ""):
            counts[c] = counts.get(c, 0) + 1
    if rhs is None:
        return ell + sorted(c for c, n in counts.items() if n == 1)
    out_labels = _einsum_labels(rhs, len(rhs.replace("...", "")) + len(ell), ell)
    unknown = [c for c in rhs.replace("...", "") if c not in counts]
    if unknown or len(set(out_labels)) != len(out_labels):
        raise ArgumentError(f"einsum: output subscripts {rhs!r} repeat a letter or use one not in the inputs")
    return out_labels


def _einsum_sizes(sizes: dict[str, int], x: T, labels: list[str]) -> None:
    """Record each label's size in `sizes`; size 1 broadcasts against any other."""
    for c, s in zip(labels, x.shape, strict=True):
        if sizes.get(c, 1) != 1 and s != 1 and sizes[c] != s:
            raise ArgumentError(f"einsum: size {s} of '{c}' in operand of shape {x.shape} does not match {sizes[c]}")
        sizes[c] = s if sizes.get(c, 1) == 1 else sizes[c]


def _einsum_product(aligned: list[tuple[T, list[str]]], order: list[str], sizes: dict[str, int]) -> T:
    """The broadcast product of all operands, each permuted to `order` with size-1 dims for the labels it lacks."""
    prod_t: T | None = None
    for x, lab in aligned:
        have = dict(zip(lab, x.shape, strict=True))
        x = x.permute(sorted(range(len(lab)), key=lambda i: order.index(lab[i])))
        x = x.reshape([have.get(c, 1) for c in order])
        prod_t = x if prod_t is None else prod_t * x
    assert prod_t is not None
    if prod_t.shape != tuple(sizes[c] for c in order):
        prod_t = prod_t.expand([sizes[c] for c in order])
    return prod_t


def _einsum_diagonals(x: T, labels: list[str], equation: str) -> tuple[T, list[str]]:
    """Take the diagonal for each letter an operand repeats ("ii" -> "i"), as a view."""
    while len(set(labels)) != len(labels):
        c = next(c for c in labels if labels.count(c) > 1)
        a = labels.index(c)
        b = labels.index(c, a + 1)
        n = x.shape[a]
        if x.shape[b] != n:
            raise ArgumentError(f"einsum: '{c}' is repeated in {equation!r} over dims of sizes {n} and {x.shape[b]}")
        rest = [i for i in range(x.ndim) if i not in (a, b)]
        x = x.permute(*rest, a, b)
        lead = x.shape[:-2]
        # in the flattened (n, n) block the diagonal is every (n+1)-th element: rows of n+1, first column
        x = x.reshape(*lead, n * n).pad([(0, 0)] * len(lead) + [(0, n)]).reshape(*lead, n, n + 1)
        x = x.shrink([(0, s) for s in lead] + [(0, n), (0, 1)]).reshape(*lead, n)
        labels = [labels[i] for i in rest] + [c]
    return x, labels


@dataclass(frozen=True)
class ConvGeometry:
    """How a convolution slides its kernel: per spatial dim the stride, the (before, after) padding (negative
    crops) and the dilation, and the number of channel groups."""

    strides: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    dilations: tuple[int, ...]
    groups: int


def _check_bias(bias: T | None, cout: int, weight_shape: tuple[int, ...], op: str) -> None:
    if bias is not None and bias.shape != (cout,):
        raise ArgumentError(
            f"{op}: bias of shape {bias.shape} does not match the {cout} output channels of weight {weight_shape}"
        )


def _conv_nd(x: T, weight: T, bias: T | None, geo: ConvGeometry, op: str, user_shape: tuple[int, ...]) -> T:
    """x (N, Cin, *spatial) convolved with weight (Cout, Cin/groups, *kernel): (N, Cout, *out), after checking
    that the bias and the kernel fit."""
    cout, kernel = weight.shape[0], weight.shape[2:]
    _check_bias(bias, cout, weight.shape, op)
    padded = [s + b + a for s, (b, a) in zip(x.shape[2:], geo.pairs, strict=True)]
    _check_fits(op, user_shape, padded, kernel, geo.dilations)
    out = _conv_with_grad(x, weight, geo)
    return out if bias is None else out + bias.reshape(1, cout, *(1,) * len(kernel))


def _conv_with_grad(x: T, weight: T, geo: ConvGeometry) -> T:
    """The convolution, whose gradients are convolutions too: the input's a transposed convolution of the output
    gradient, the weight's a reduction over batch and space (not the gradient of the window view)."""
    return x.apply_with_gradient(
        lambda a, w: _conv_product(a, w, geo),
        lambda g, a, w: (_conv_input_grad(g, w, a.shape[2:], geo), _conv_weight_grad(g, a, w.shape[2:], geo)),
        weight,
    )


def _conv_product(x: T, weight: T, geo: ConvGeometry) -> T:
    """The window view of the padded input times the weight, summed: one kernel."""
    nd = len(geo.strides)
    n, (cout, cin_g), kernel = x.shape[0], weight.shape[:2], weight.shape[2:]
    win = _windows(_pad_or_crop(x, list(geo.pairs)), kernel, geo.strides, geo.dilations)  # (N, Cin, *out, *kernel)
    out_sp = win.shape[2 : 2 + nd]
    groups = geo.groups
    cout_g = cout // groups
    # the product is laid out (N, groups, Cout/groups, *out, Cin/groups, *kernel): one sum over the last 1+nd dims
    win = win.reshape(n, groups, 1, cin_g, *out_sp, *kernel)
    win = win.permute(0, 1, 2, *range(4, 4 + nd), 3, *range(4 + nd, 4 + 2 * nd))
    w = weight.reshape(1, groups, cout_g, *(1,) * nd, cin_g, *kernel)
    return (win * w).sum(tuple(range(3 + nd, 4 + 2 * nd))).reshape(n, cout, *out_sp)


def _spread(x: T, strides: Sequence[int]) -> T:
    """s-1 zeros between neighbours along each spatial dim (each element padded to s, the tail cut off)."""
    for i, s in enumerate(strides):
        if s == 1:
            continue
        ax = x.ndim - len(strides) + i
        n = x.shape[ax]
        pre, post = x.shape[:ax], x.shape[ax + 1 :]
        x = x.reshape(*pre, n, 1, *post).pad([(0, s - 1 if j == ax + 1 else 0) for j in range(x.ndim + 1)])
        x = x.reshape(*pre, n * s, *post).shrink(
            [(0, (n - 1) * s + 1 if j == ax else e) for j, e in enumerate(pre + (n * s,) + post)]
        )
    return x


def _flipped_transposed(weight: T, groups: int) -> T:
    """(A, B/groups, *kernel) -> (B, A/groups, *kernel) with the kernel reversed: the weight of the convolution
    that runs a (transposed) convolution backwards."""
    a, b_g, *kernel = weight.shape
    nd = len(kernel)
    w = weight.reshape(groups, a // groups, b_g, *kernel).transpose(1, 2).flip(tuple(range(3, 3 + nd)))
    return w.reshape(groups * b_g, a // groups, *kernel)


def _conv_input_grad(g: T, weight: T, spatial: Sequence[int], geo: ConvGeometry) -> T:
    """d(loss)/d(input) from the output gradient g (N, Cout, *out): g spread by the stride, convolved at stride 1
    with the flipped, transposed kernel, padded so that it comes out at the input's size. Strided without
    dilation, it is split by phase instead (`_conv_input_grad_phases`): no zeros to multiply, no index division."""
    if any(s > 1 for s in geo.strides) and all(d == 1 for d in geo.dilations):
        return _conv_input_grad_phases(g, weight, spatial, geo)
    spread = _spread(g, geo.strides)
    kernel = weight.shape[2:]
    pairs = []
    for n, o, k, d, (b, _) in zip(spatial, spread.shape[2:], kernel, geo.dilations, geo.pairs, strict=True):
        before = d * (k - 1) - b
        pairs.append((before, n + d * (k - 1) - o - before))
    back = ConvGeometry((1,) * len(kernel), tuple(pairs), geo.dilations, geo.groups)
    return _conv_with_grad(spread, _flipped_transposed(weight, geo.groups), back)


def _conv_input_grad_phases(g: T, weight: T, spatial: Sequence[int], geo: ConvGeometry) -> T:
    """The input gradient of a strided convolution as one stride-1 convolution with s1*s2*... times the output
    channels. Per spatial dim, padded input position j = q*s + r (phase r) gets sum_t g[q - t] * w[r + s*t]: each
    phase is a correlation of g with every s-th kernel tap (the kernel zero-padded to T*s taps, T = ceil(k/s)).
    The phases come out as channels (N, Cin, *s, *q) and interleave by a reshape; the padding is cut off last."""
    nd = len(spatial)
    (cout, cin_g, *kernel), (n, _, *out_sp) = weight.shape, g.shape
    groups, strides = geo.groups, geo.strides
    taps = [-(-k // s) for k, s in zip(kernel, strides, strict=True)]
    # (Cout, Cin/groups, *kernel) -> (groups * Cin/groups * s..., Cout/groups, *taps), taps reversed
    w = weight.pad([(0, 0), (0, 0), *((0, t * s - k) for t, s, k in zip(taps, strides, kernel, strict=True))])
    w = w.reshape(groups, cout // groups, cin_g, *(d for t, s in zip(taps, strides, strict=True) for d in (t, s)))
    w = w.permute(0, 2, *range(4, 3 + 2 * nd, 2), 1, *range(3, 3 + 2 * nd, 2)).flip(tuple(range(-nd, 0)))
    # realized: the flip of the zero-padded taps would otherwise cost index arithmetic on every weight read
    w = w.reshape(groups * cin_g * prod(strides), cout // groups, *taps).contiguous()
    # q runs over enough windows to cover every padded input position up to the input's end
    qs = [-(-(b + size) // s) for size, s, (b, _) in zip(spatial, strides, geo.pairs, strict=True)]
    pairs = tuple((t - 1, q - o) for t, q, o in zip(taps, qs, out_sp, strict=True))
    out = _conv_with_grad(g, w, ConvGeometry((1,) * nd, pairs, (1,) * nd, groups))  # (N, Cin*s..., *q)
    out = out.reshape(n, groups * cin_g, *strides, *qs)
    out = out.permute(0, 1, *(i for d in range(nd) for i in (2 + nd + d, 2 + d)))
    out = out.reshape(n, groups * cin_g, *(q * s for q, s in zip(qs, strides, strict=True)))
    crop = [(-b, b + size - q * s) for size, q, s, (b, _) in zip(spatial, qs, strides, geo.pairs, strict=True)]
    return _pad_or_crop(out, crop)


def _conv_weight_grad(g: T, x: T, kernel: Sequence[int], geo: ConvGeometry) -> T:
    """d(loss)/d(weight): for each kernel offset, the output gradient times the input it read, summed over batch
    and space, one reduction over N*out. The input's windows are taken with the roles of kernel and output
    swapped: as many windows as kernel taps, each as long as the output, `dilation` apart, stepping by `stride`.
    The padded input is copied channels-last first, so the input channels (an output axis) are contiguous: the
    kernel then works like a matmul with vectors along them instead of a dot product along the rows."""
    nd = len(kernel)
    (n, cin), (cout, *out_sp) = x.shape[:2], g.shape[1:]
    groups = geo.groups
    cin_g, cout_g = cin // groups, cout // groups
    # the padded input cut to the elements some output reads
    pairs = [
        (b, (o - 1) * s + d * (k - 1) + 1 - size - b)
        for size, o, k, s, d, (b, _) in zip(x.shape[2:], out_sp, kernel, geo.strides, geo.dilations, geo.pairs)
    ]
    win = _pad_or_crop(x, pairs).permute(0, *range(2, 2 + nd), 1)  # (N, *padded, Cin)
    if cin > 1:  # one channel is channels-last already
        win = win.contiguous()
    for i in range(nd):  # each padded axis becomes (kernel tap, output position)
        win = _window_axis(win, 1 + 2 * i, out_sp[i], geo.dilations[i], geo.strides[i])
    # (N, k0, o0, k1, o1, ..., Cin) -> (*kernel, groups, 1, Cin/groups, N, *out)
    win = win.reshape(n, *win.shape[1 : 1 + 2 * nd], groups, cin_g)
    win = win.permute(*range(1, 1 + 2 * nd, 2), 1 + 2 * nd, 2 + 2 * nd, 0, *range(2, 2 + 2 * nd, 2))
    win = win.reshape(*kernel, groups, 1, cin_g, n, *out_sp)
    gg = g.reshape(n, groups, cout_g, *out_sp).permute(1, 2, 0, *range(3, 3 + nd))
    gg = gg.reshape(*(1,) * nd, groups, cout_g, 1, n, *out_sp)
    dw = (win * gg).sum(tuple(range(3 + nd, 4 + 2 * nd)))  # (*kernel, groups, Cout/groups, Cin/groups)
    return dw.reshape(*kernel, cout, cin_g).permute(nd, nd + 1, *range(nd))


def _resample_axis(x: T, axis: int, n: int, o: int, scale: float | None, mode: str, align_corners: bool) -> T:
    """Resize one axis from n to o elements with PyTorch's source-index rules (computed in float32, as torch
    does for float32 data). `scale` is the source step per output element when a scale_factor set it."""
    if n == 0 or o == 0:
        raise ArgumentError(f"interpolate: cannot resize a dim of size {n} to {o}")
    f32 = np.float32
    dst = np.arange(o, dtype=f32)
    if align_corners:
        step = f32(n - 1) / f32(o - 1) if o > 1 else f32(0)
    else:
        step = f32(scale) if scale is not None else f32(n) / f32(o)
    pre, post = x.shape[:axis], x.shape[axis + 1 :]
    if mode.startswith("nearest"):
        if mode == "nearest-exact":
            src = np.floor((np.arange(o) + 0.5) * np.float64(step)).astype(np.int64)
        elif o in (n, 2 * n):  # PyTorch's shortcuts, whatever the scale_factor
            src = np.arange(o) // (o // n)
        else:
            src = np.floor(dst * step).astype(np.int64)
        src = np.minimum(src, n - 1)
        if o == n and np.array_equal(src, np.arange(o)):
            return x
        if o % n == 0 and np.array_equal(src, np.arange(o) // (o // n)):  # a whole factor up: repeat each element
            r = o // n
            return x.reshape(*pre, n, 1, *post).expand(*pre, n, r, *post).reshape(*pre, o, *post)
        if n % o == 0 and np.array_equal(src, np.arange(o) * (n // o)):  # a whole factor down: every r-th element
            r = n // o
            x = x.reshape(*pre, o, r, *post)
            return x.shrink([(0, e) if i != axis + 1 else (0, 1) for i, e in enumerate(x.shape)]).reshape(
                *pre, o, *post
            )
        weights = (src[:, None] == np.arange(n)[None, :]).astype(f32)
    else:
        if align_corners:
            pos = dst * step
        else:
            pos = np.maximum(step * (dst + f32(0.5)) - f32(0.5), f32(0))
        lo = np.minimum(np.floor(pos).astype(np.int64), n - 1)
        hi = np.minimum(lo + 1, n - 1)
        frac = np.clip(pos - lo.astype(f32), f32(0), f32(1)).astype(f32)
        weights = np.zeros((o, n), dtype=f32)
        np.add.at(weights, (np.arange(o), lo), f32(1) - frac)
        np.add.at(weights, (np.arange(o), hi), frac)
        if np.array_equal(weights, np.eye(n, dtype=f32)):
            return x
    return _contract_axis(x, axis, weights, "pick" if mode.startswith("nearest") else "sum")


def _contract_axis(x: T, axis: int, weights: np.ndarray, how: str) -> T:
    """Axis `axis` (size n) of x replaced by o outputs, each combining the inputs an (o, n) host matrix marks:
    how='sum' is the weighted sum, 'pick' the one marked input (one-hot rows), 'max' the largest marked input.
    Unmarked inputs are never read into the result, so inf and nan there do not leak in (as with a gather)."""
    n = x.shape[axis]
    # x moved to (..., 1, n) against the (o, n) matrix, reduced over n
    moved = x.permute(*[i for i in range(x.ndim) if i != axis], axis)
    xs = moved.reshape(*moved.shape[:-1], 1, n)
    w = type(x)(weights, device=x.device)
    used = w != 0
    if how == "pick":
        out = used.where(xs, 0).sum(-1).cast(x.dtype)
    elif how == "max":
        low = -math.inf if x.dtype.is_float else x.dtype.min
        out = used.where(xs, low).max(-1)
    else:
        out = used.where(xs * w.cast(least_upper_float(x.dtype)), 0.0).sum(-1)
    # out is (..., o) with the new axis last
    last = out.ndim - 1
    return out.permute(*range(axis), last, *range(axis, last))


# The per-rank methods (conv2d, max_pool3d, ...) are the N-d ones with the number of spatial dims fixed: each
# family is defined once here, and the class generates its public methods (name, docstring) from it.


def _method(fn: Callable[..., Any], name: str, doc: str) -> Callable[..., Any]:
    fn.__name__, fn.__qualname__, fn.__doc__ = name, f"FunctionalMixin.{name}", doc
    return fn


def _conv_of_rank(nd: int | None, doc: str) -> Callable[..., Any]:
    """`conv` (nd None: the rank comes from the weight) or `conv1d`, `conv2d`, ... (nd fixed, and checked)."""
    name = "conv" if nd is None else f"conv{nd}d"

    def conv_nd(
        self: T,
        weight: T,
        bias: T | None = None,
        stride: int | Sequence[int] = 1,
        padding: int | str | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
    ) -> T:
        # tinygrad's conv2d takes a weight of any rank: (out, in, *kernel) convolves len(kernel) dims
        return self._conv(weight, bias, stride, padding, dilation, groups, None if nd == 2 else nd, name)

    return _method(conv_nd, name, doc)


def _conv_transpose_of_rank(nd: int | None, doc: str) -> Callable[..., Any]:
    """`conv_transpose` (nd None: the rank comes from the weight) or `conv_transpose1d`, ... (nd fixed)."""
    name = "conv_transpose" if nd is None else f"conv_transpose{nd}d"

    def conv_transpose_nd(
        self: T,
        weight: T,
        bias: T | None = None,
        stride: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        output_padding: int | Sequence[int] = 0,
        groups: int = 1,
        dilation: int | Sequence[int] = 1,
    ) -> T:
        rank = None if nd == 2 else nd  # as conv2d: the rank comes from the weight
        return self._conv_transpose(weight, bias, stride, padding, output_padding, groups, dilation, rank, name)

    return _method(conv_transpose_nd, name, doc)


def _window_counts(
    spatial: Sequence[int],
    out_and_kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    spans: Sequence[tuple[int, int, int]],
) -> np.ndarray:
    """How many elements of each pooling window count in an average, shape (*out): per axis of size n, with
    (p, a, q) in `spans`, the window elements inside [-p, n + a) of the input where the windows start q before it.
    The count is a product of one count per axis, known from the shapes alone."""
    nd = len(spatial)
    counts = np.ones((), dtype=np.float64)
    for n, o, k, s, d, (p, a, q) in zip(
        spatial, out_and_kernel[:nd], out_and_kernel[nd:], strides, dilations, spans, strict=True
    ):
        pos = np.arange(o)[:, None] * s - q + np.arange(k)[None, :] * d
        counts = np.multiply.outer(counts, ((pos >= -p) & (pos < n + a)).sum(1))
    return counts


def _max_pool_grad(g: T, x: T, y: T, applied: _Pairs) -> T:
    """The gradient of a max pool whose windows tile the (padded) input, computed in the input's layout: where
    an element equals its window's maximum it gets the window's gradient, shared equally between ties. Each
    spatial dim is split into (window, position in it), a reshape of the input's layout, so the result is stored
    in that layout with no index arithmetic."""
    nd = len(applied)
    low = -math.inf if x.dtype.is_float else x.dtype.min
    xp = _pad_or_crop(x, applied, low)
    lead, out = xp.shape[:-nd], y.shape[-nd:]
    split = [d for p, o in zip(xp.shape[-nd:], out, strict=True) for d in (o, p // o)]
    spread = [d for o in out for d in (o, 1)]
    hit = xp.reshape(*lead, *split) == y.reshape(*lead, *spread)
    ties = hit.sum(tuple(len(lead) + 2 * i + 1 for i in range(nd)), keepdim=True).cast(g.dtype)
    dx = hit.where(g.reshape(*lead, *spread) / ties, 0.0).reshape(xp.shape)
    return _pad_or_crop(dx, [(-b, -a) for b, a in applied])


def _first_max_positions(
    x: T, win: T, applied: _Pairs, stride: int | Sequence[int] | None, dilation: int | Sequence[int], op: str
) -> T:
    """For max pooling's `return_indices`: the flat index (into the input's spatial dims, int32) of the first
    maximum of each window (flat indices grow along a window in row-major order, so the first is the least).
    Padding is never picked: its positions read as past the end."""
    nd = len(applied)
    kernel = win.shape[-nd:]
    strides = kernel if stride is None else _per_dim(stride, nd, "stride", op)
    spatial = x.shape[-nd:]
    n = prod(spatial)
    pos = _pad_or_crop(x.arange(n, device=x.device).reshape(*spatial), applied, n)
    pos_win = _windows(pos, kernel, strides, _per_dim(dilation, nd, "dilation", op))
    axes = tuple(range(-nd, 0))
    hit = win == win.max(axes, keepdim=True)
    return hit.where(pos_win, n).min(axes)


def _unpool_of_rank(nd: int, doc: str) -> Callable[..., Any]:
    name = f"max_unpool{nd}d"

    def max_unpool_nd(
        self: T,
        indices: T,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        output_size: Sequence[int] | None = None,
        dilation: int | Sequence[int] = 1,
    ) -> T:
        if self.ndim not in (nd + 1, nd + 2) or indices.shape != self.shape:
            raise ArgumentError(
                f"{name}: input {self.shape} and indices {indices.shape} must be one shape (N, C, *spatial) of "
                f"{nd + 2} or {nd + 1} dims"
            )
        if not indices.dtype.is_int:
            raise TypeError(f"{name}: indices need an integer dtype, got {indices.dtype!r}")
        kernel = _per_dim(kernel_size, nd, "kernel_size", name)
        strides = kernel if stride is None else _per_dim(stride, nd, "stride", name)
        pads = _per_dim(padding, nd, "padding", name, low=0)
        lead, spatial = self.shape[:-nd], self.shape[-nd:]
        dils = _per_dim(dilation, nd, "dilation", name)  # tinygrad's keyword (PyTorch has none)
        out = [
            (n - 1) * s - 2 * p + d * (k - 1) + 1
            for n, s, p, k, d in zip(spatial, strides, pads, kernel, dils, strict=True)
        ]
        if output_size is not None:
            want = tuple(output_size)[-nd:]
            if len(want) != nd or any(not o - s < w < o + s for w, o, s in zip(want, out, strides, strict=True)):
                raise ArgumentError(f"{name}: output_size {tuple(output_size)} is not a size the pool could come from")
            out = list(want)
        flat, idx = (*lead, prod(spatial)), indices.reshape(*lead, prod(spatial))

        def forward(x: T) -> T:
            zeros = x.zeros(*lead, prod(out), dtype=x.dtype, device=x.device)
            return zeros.scatter(-1, idx, x.reshape(flat)).reshape(*lead, *out)

        # as PyTorch: every value gets the gradient at its index, also where overlapping windows share one
        return self.apply_with_gradient(forward, lambda g, x: (g.reshape(*lead, -1).gather(-1, idx).reshape(x.shape),))

    return _method(max_unpool_nd, name, doc)


def _pool_rank(nd: int, kernel_size: int | Sequence[int]) -> int:
    """The pool's spatial rank: tinygrad's `max_pool2d` / `avg_pool2d` take it from a kernel_size tuple (3 ints:
    a 3-D pool); the 1d and 3d entry points keep theirs (and check it)."""
    return len(kernel_size) if nd == 2 and isinstance(kernel_size, (tuple, list)) and kernel_size else nd


def _max_pool_of_rank(nd: int, doc: str) -> Callable[..., Any]:
    name = f"max_pool{nd}d"

    def max_pool_nd(
        self: T,
        kernel_size: int | Sequence[int] = 2,
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> Any:
        rank = _pool_rank(nd, kernel_size)
        low = -math.inf if self.dtype.is_float else self.dtype.min
        win, _, applied = self._pool(rank, name, kernel_size, stride, padding, dilation, ceil_mode, low)
        if return_indices:  # as PyTorch: (values, flat index into the input's spatial dims of each maximum)
            where = _first_max_positions(self, win, applied, stride, dilation, name)
            return max_pool_nd(self, kernel_size, stride, padding, dilation, ceil_mode), where
        kernel = win.shape[-rank:]
        strides = kernel if stride is None else _per_dim(stride, rank, "stride", name)
        if tuple(strides) != kernel or _per_dim(dilation, rank, "dilation", name) != (1,) * rank:
            return win.max(tuple(range(-rank, 0)))  # overlapping or spaced windows: the rules' gradient

        def forward(x: T) -> T:
            return _windows(_pad_or_crop(x, applied, low), kernel, kernel, (1,) * rank).max(tuple(range(-rank, 0)))

        return self.apply_with_gradient(forward, lambda g, x: (_max_pool_grad(g, x, forward(x), applied),))

    return _method(max_pool_nd, name, doc)


def _avg_pool_of_rank(nd: int, doc: str) -> Callable[..., Any]:
    name = f"avg_pool{nd}d"

    def avg_pool_nd(
        self: T,
        kernel_size: int | Sequence[int] = 2,
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
        dilation: int | Sequence[int] = 1,
    ) -> T:
        rank = _pool_rank(nd, kernel_size)
        win, explicit, applied = self._pool(rank, name, kernel_size, stride, padding, dilation, ceil_mode, 0.0)
        total = win.sum(tuple(range(-rank, 0)))
        if divisor_override is not None:
            if not isinstance(divisor_override, int) or divisor_override == 0:
                raise ArgumentError(f"{name}: divisor_override must be a nonzero int, got {divisor_override!r}")
            return total / divisor_override
        kernel = win.shape[-rank:]
        strides = kernel if stride is None else _per_dim(stride, rank, "stride", name)
        spans = [
            (p, a, q) if count_include_pad else (0, 0, q) for (p, a), (q, _) in zip(explicit, applied, strict=True)
        ]
        counts = _window_counts(
            self.shape[-rank:], win.shape[-2 * rank :], strides, _per_dim(dilation, rank, "dilation", name), spans
        )
        if np.all(counts == prod(kernel)):
            return total / prod(kernel)
        return total / type(self)(counts.astype(np.float32), device=self.device).cast(total.dtype)

    return _method(avg_pool_nd, name, doc)


def _adaptive_pool_of_rank(nd: int, how: str, doc: str) -> Callable[..., Any]:
    name = f"adaptive_{'max' if how == 'max' else 'avg'}_pool{nd}d"

    def adaptive_avg_pool_nd(self: T, output_size: int | Sequence[int | None]) -> T:
        return self._adaptive_pool(nd, name, output_size, how)

    def adaptive_max_pool_nd(self: T, output_size: int | Sequence[int | None], return_indices: bool = False) -> T:
        if return_indices:
            raise NotImplementedError(f"{name}: return_indices=True is not supported")
        return self._adaptive_pool(nd, name, output_size, how)

    return _method(adaptive_max_pool_nd if how == "max" else adaptive_avg_pool_nd, name, doc)


class FunctionalMixin(IndexingMixin):
    """Linear algebra and neural-network functions; mixed into `Tensor`."""

    __slots__ = ()

    def __matmul__(self, y: Self) -> Self:
        return self.matmul(y)

    def matmul(self, w: Self) -> Self:
        """Matrix product with numpy's rules for 1-D operands and batch broadcasting.
        One multiply over a broadcast (..., n, m, k) view and a sum over k: a single kernel."""
        x = self
        if x.ndim == 0 or w.ndim == 0:
            raise ArgumentError(f"matmul: both operands need at least 1 dimension, got {x.shape} and {w.shape}")
        k_x, k_w = x.shape[-1], w.shape[-2] if w.ndim > 1 else w.shape[0]
        if k_x != k_w:
            raise ArgumentError(f"matmul: shapes {x.shape} and {w.shape} do not match ({k_x} != {k_w})")
        bx, bw = x.shape[:-2], w.shape[:-2]
        if any(a != b and a != 1 and b != 1 for a, b in zip(bx[::-1], bw[::-1])):
            raise ArgumentError(f"matmul: batch dims of shapes {x.shape} and {w.shape} cannot be broadcast together")
        x2 = x.reshape(1, k_x) if x.ndim == 1 else x
        w2 = w.reshape(k_w, 1) if w.ndim == 1 else w
        xr = x2.reshape(*x2.shape[:-1], 1, k_x)
        wt = w2.transpose(-1, -2)
        wr = wt.reshape(*wt.shape[:-2], 1, *wt.shape[-2:])
        dt = least_upper_dtype(x.dtype, w.dtype)
        if dt.is_float and dt.itemsize < 4:  # half precision: products and sums in float32, as PyTorch
            out = (xr.cast(dtypes.float32) * wr.cast(dtypes.float32)).sum(-1).cast(dt)
        else:
            out = (xr * wr).sum(-1)
        if x.ndim == 1:
            out = out.reshape(*out.shape[:-2], out.shape[-1])
        if w.ndim == 1:
            out = out.reshape(out.shape[:-1])
        return out

    def dot(self, w: Self) -> Self:
        return self.matmul(w)

    def linear(self, weight: Self, bias: Self | None = None) -> Self:
        """x @ weight.T + bias, with weight of shape (out, in) as in PyTorch."""
        out = self.matmul(weight.T)
        return out + bias if bias is not None else out

    # ------------------------------------------------------------------ einsum

    @staticmethod
    def einsum(equation: str, *operands: T | Sequence[T]) -> T:
        """Einstein summation as in `torch.einsum`: `Tensor.einsum("ij,jk->ik", a, b)` (operands may also come as
        one list). Supports an implicit output (letters used once, sorted), `...` for broadcast dims, size-1
        broadcasting and repeated letters in one operand (a diagonal; "ii->" is the trace). One broadcast
        product of all operands and one sum: a single kernel, but it is not split into pairwise contractions.

        >>> from tg_tensor import Tensor
        >>> Tensor.einsum("ij,j->i", Tensor([[1.0, 2.0], [3.0, 4.0]]), Tensor([1.0, 1.0])).tolist()
        [3.0, 7.0]
        """
        ops = _operand_list(operands)
        terms, rhs, ell = _einsum_terms(equation, ops)
        out_labels = _einsum_output(equation, terms, rhs, ell)
        sizes: dict[str, int] = {}
        aligned: list[tuple[T, list[str]]] = []
        for t, x in zip(terms, ops, strict=True):
            x, lab = _einsum_diagonals(x, _einsum_labels(t, x.ndim, ell), equation)
            _einsum_sizes(sizes, x, lab)
            aligned.append((x, lab))
        summed = [c for c in sizes if c not in out_labels]
        prod_t = _einsum_product(aligned, out_labels + summed, sizes)
        return prod_t.sum(tuple(range(len(out_labels), prod_t.ndim))) if summed else prod_t

    # ------------------------------------------------------------------ convolution

    conv = _conv_of_rank(
        None,
        """N-d convolution (cross-correlation, as in PyTorch) of `self` (N, Cin, *spatial) or (Cin, *spatial) with
        `weight` (Cout, Cin/groups, *kernel); the number of spatial dims comes from the weight. `padding` is an
        int, one int per dim, 2*nd ints in torch's F.pad order (last dim first), 'valid' or 'same' (stride 1).

        Built from movement ops (pad, then a window view made with reshape/expand/shrink/permute), one broadcast
        multiply and one sum: a single kernel for the forward pass.

        >>> from tg_tensor import Tensor
        >>> Tensor([[[1.0, 2.0, 3.0, 4.0]]]).conv(Tensor([[[1.0, -1.0]]])).tolist()
        [[[-1.0, -1.0, -1.0]]]
        """,
    )
    conv1d = _conv_of_rank(
        1, """1-d convolution like `torch.nn.functional.conv1d`: input (N, Cin, L), weight (Cout, Cin/groups, K)."""
    )
    conv2d = _conv_of_rank(
        2,
        """2-d convolution like `torch.nn.functional.conv2d`: input (N, Cin, H, W), weight (Cout, Cin/groups, KH,
        KW), bias (Cout,). Arguments are in torch's order; see `conv` for padding forms.

        >>> from tg_tensor import Tensor
        >>> x = Tensor.ones(1, 1, 3, 3)
        >>> x.conv2d(Tensor.ones(1, 1, 2, 2), padding=1).tolist()[0][0]
        [[1.0, 2.0, 2.0, 1.0], [2.0, 4.0, 4.0, 2.0], [2.0, 4.0, 4.0, 2.0], [1.0, 2.0, 2.0, 1.0]]
        """,
    )
    conv3d = _conv_of_rank(3, """3-d convolution like `torch.nn.functional.conv3d`: input (N, Cin, D, H, W).""")

    def _conv_checks(
        self, weight: Self, bias: Self | None, nd: int | None, groups: int, op: str, layout: str
    ) -> tuple[Self, int, bool]:
        """Validate ranks, devices and groups; returns the input with a batch dim, the number of spatial dims (from
        the weight where `nd` is None) and whether a batch dim was added."""
        if nd is None:
            nd = weight.ndim - 2
            if nd < 1:
                raise ArgumentError(f"{op}: weight must be {layout}, got shape {weight.shape}")
        if weight.ndim != nd + 2:
            raise ArgumentError(f"{op}: weight must have {nd + 2} dims (out, in, *kernel), got shape {weight.shape}")
        if self.ndim not in (nd + 1, nd + 2):
            raise ArgumentError(
                f"{op}: input must have {nd + 2} dims (N, C, *spatial) or {nd + 1} (C, *spatial), "
                f"got shape {self.shape}"
            )
        if not isinstance(groups, int) or groups < 1:
            raise ArgumentError(f"{op}: groups must be an int >= 1, got {groups!r}")
        for t in (weight, bias):
            if t is not None and t.device != self.device:
                raise ArgumentError(f"{op}: input on {self.device} but weight or bias on {t.device}")
        if bias is not None and bias.ndim != 1:
            raise ArgumentError(f"{op}: bias must be 1-d, got shape {bias.shape}")
        unbatched = self.ndim == nd + 1
        return (self.unsqueeze(0) if unbatched else self), nd, unbatched

    def _conv(
        self,
        weight: Self,
        bias: Self | None,
        stride: int | Sequence[int],
        padding: int | str | Sequence[int],
        dilation: int | Sequence[int],
        groups: int,
        nd: int | None,
        op: str,
    ) -> Self:
        x, nd, unbatched = self._conv_checks(weight, bias, nd, groups, op, "(Cout, Cin/groups, *kernel)")
        cout, cin_g = weight.shape[:2]
        if cin_g * groups != x.shape[1]:
            raise ArgumentError(
                f"{op}: input of shape {self.shape} has {x.shape[1]} channels but weight of shape {weight.shape} "
                f"with groups={groups} expects {cin_g * groups}"
            )
        if cout % groups:
            raise ArgumentError(
                f"{op}: weight of shape {weight.shape}: {cout} output channels not divisible by groups={groups}"
            )
        strides, dils = _per_dim(stride, nd, "stride", op), _per_dim(dilation, nd, "dilation", op)
        if padding == "valid":
            pairs = [(0, 0)] * nd
        elif padding == "same":
            if any(s != 1 for s in strides):
                raise ArgumentError(f"{op}: padding='same' needs stride 1, got stride {stride!r}")
            total = [d * (k - 1) for k, d in zip(weight.shape[2:], dils, strict=True)]
            pairs = [(t // 2, t - t // 2) for t in total]  # the odd element goes after, as in PyTorch
        elif isinstance(padding, str):
            raise ArgumentError(f"{op}: padding must be an int, ints, 'same' or 'valid', got {padding!r}")
        else:
            pairs = _padding_pairs(padding, nd, op)
        out = _conv_nd(x, weight, bias, ConvGeometry(strides, tuple(pairs), dils, groups), op, self.shape)
        return out.reshape(out.shape[1:]) if unbatched else out

    conv_transpose = _conv_transpose_of_rank(
        None,
        """N-d transposed convolution (the gradient of `conv` with respect to its input), as in PyTorch:
        input (N, Cin, *spatial), weight (Cin, Cout/groups, *kernel); each spatial dim of the output is
        (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1.

        Strided without dilation: the input gradient of `conv` with this weight, one stride-1 convolution over
        the output's stride phases (interleaved by a reshape). Otherwise the input spread `stride` apart with
        zeros (reshape and pad), then a stride-1 `conv` with the flipped kernel.

        >>> from tg_tensor import Tensor
        >>> Tensor([[[1.0, 2.0]]]).conv_transpose(Tensor([[[1.0, 1.0, 1.0]]]), stride=2).tolist()
        [[[1.0, 1.0, 3.0, 2.0, 2.0]]]
        """,
    )

    conv_transpose1d = _conv_transpose_of_rank(
        1, """Like `torch.nn.functional.conv_transpose1d`; see `conv_transpose`."""
    )
    conv_transpose2d = _conv_transpose_of_rank(
        2,
        """Like `torch.nn.functional.conv_transpose2d`: input (N, Cin, H, W), weight (Cin, Cout/groups, KH, KW);
        see `conv_transpose`.""",
    )
    conv_transpose3d = _conv_transpose_of_rank(
        3, """Like `torch.nn.functional.conv_transpose3d`; see `conv_transpose`."""
    )

    def _conv_transpose(
        self,
        weight: Self,
        bias: Self | None,
        stride: int | Sequence[int],
        padding: int | Sequence[int],
        output_padding: int | Sequence[int],
        groups: int,
        dilation: int | Sequence[int],
        nd: int | None,
        op: str,
    ) -> Self:
        x, nd, unbatched = self._conv_checks(weight, bias, nd, groups, op, "(Cin, Cout/groups, *kernel)")
        cin, cout_g, *kernel = weight.shape
        if x.shape[1] != cin:
            raise ArgumentError(
                f"{op}: input of shape {self.shape} has {x.shape[1]} channels but weight of shape {weight.shape} "
                f"expects {cin}"
            )
        if cin % groups:
            raise ArgumentError(
                f"{op}: weight of shape {weight.shape}: {cin} input channels not divisible by groups={groups}"
            )
        strides, dils = _per_dim(stride, nd, "stride", op), _per_dim(dilation, nd, "dilation", op)
        pads = _per_dim(padding, nd, "padding", op, low=0)
        out_pads = _per_dim(output_padding, nd, "output_padding", op, low=0)
        if any(p >= max(s, d) for p, s, d in zip(out_pads, strides, dils, strict=True)):
            raise ArgumentError(f"{op}: output_padding {output_padding!r} must be smaller than stride or dilation")
        if any(s == 0 for s in x.shape[2:]):
            raise ArgumentError(f"{op}: input of shape {self.shape} has an empty spatial dim")
        if any(s > 1 for s in strides) and all(d == 1 for d in dils):
            # the input gradient of the convolution with this weight: by phases, no zeros spread between inputs
            _check_bias(bias, weight.shape[1] * groups, weight.shape, op)
            sizes = [(n - 1) * s - 2 * p + k + q for n, s, p, k, q in zip(x.shape[2:], strides, pads, kernel, out_pads)]
            if any(s <= 0 for s in sizes):
                raise ArgumentError(f"{op}: input of shape {self.shape} gives an output of spatial size {tuple(sizes)}")
            conv = ConvGeometry(strides, tuple((p, p) for p in pads), dils, groups)
            out = _conv_input_grad_phases(x, weight, sizes, conv)
            out = out if bias is None else out + bias.reshape(1, -1, *(1,) * nd)
        else:
            pairs = tuple(
                (d * (k - 1) - p, d * (k - 1) - p + q) for k, d, p, q in zip(kernel, dils, pads, out_pads, strict=True)
            )
            w = _flipped_transposed(weight, groups)  # the weight of the equivalent conv, kernel flipped
            geo = ConvGeometry((1,) * nd, pairs, dils, groups)
            out = _conv_nd(_spread(x, strides), w, bias, geo, op, self.shape)
        return out.reshape(out.shape[1:]) if unbatched else out

    # ------------------------------------------------------------------ pooling

    def _pool(
        self,
        nd: int,
        op: str,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None,
        padding: int | Sequence[int],
        dilation: int | Sequence[int],
        ceil_mode: bool,
        pad_value: float,
    ) -> tuple[Self, list[tuple[int, int]], list[tuple[int, int]]]:
        """The windows (..., *out, *kernel) of the input padded with `pad_value`, the explicit padding and the
        (before, after) padding actually applied (ceil_mode adds some after; unused padding is cut)."""
        if self.ndim not in (nd + 1, nd + 2):
            raise ArgumentError(
                f"{op}: input must have {nd + 1} or {nd + 2} dims (N, C, *spatial), got shape {self.shape}"
            )
        kernel = _per_dim(kernel_size, nd, "kernel_size", op)
        strides = kernel if stride is None else _per_dim(stride, nd, "stride", op)
        dils = _per_dim(dilation, nd, "dilation", op)
        # one int per dim (both sides), or tinygrad's per-side form: 2*nd ints in F.pad's order
        pairs = _padding_pairs(padding, nd, op)
        if any(max(p) > k // 2 for p, k in zip(pairs, kernel, strict=True)):
            raise ArgumentError(f"{op}: padding {padding!r} must be at most half of kernel_size {kernel_size!r}")
        spatial = self.shape[-nd:]
        _check_fits(op, self.shape, [s + b + a for s, (b, a) in zip(spatial, pairs, strict=True)], kernel, dils)
        applied = []
        for n, k, s, d, (p, q) in zip(spatial, kernel, strides, dils, pairs, strict=True):
            span = n + p + q - d * (k - 1) - 1
            o = (span + (s - 1 if ceil_mode else 0)) // s + 1
            if ceil_mode and (o - 1) * s >= n + p:
                o -= 1  # as PyTorch: the last window must start inside the input or the left padding
            applied.append((p, (o - 1) * s + d * (k - 1) + 1 - n - p))
        x = _pad_or_crop(self, applied, pad_value)
        return _windows(x, kernel, strides, dils), list(pairs), applied

    max_pool1d = _max_pool_of_rank(
        1, """Like `torch.nn.functional.max_pool1d` on (N, C, L) or (C, L); see `max_pool2d`."""
    )
    max_pool2d = _max_pool_of_rank(
        2,
        """The maximum of each window of the last two dims, like `torch.nn.functional.max_pool2d` (stride defaults
        to the kernel size; padding reads as -inf). A window view and one max reduction; ties share the gradient.

        >>> from tg_tensor import Tensor
        >>> Tensor([[[[1.0, 2.0], [3.0, 4.0]]]]).max_pool2d(2).tolist()
        [[[[4.0]]]]
        """,
    )
    max_pool3d = _max_pool_of_rank(
        3, """Like `torch.nn.functional.max_pool3d` on (N, C, D, H, W) or (C, D, H, W); see `max_pool2d`."""
    )
    max_unpool1d = _unpool_of_rank(1, """Like `torch.nn.functional.max_unpool1d`; see `max_unpool2d`.""")
    max_unpool2d = _unpool_of_rank(
        2,
        """The inverse of `max_pool2d(..., return_indices=True)`, like `torch.nn.functional.max_unpool2d`: each
        value written at its index in a zero tensor of the pooled input's size (or `output_size`).

        >>> from tg_tensor import Tensor
        >>> x = Tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
        >>> values, indices = x.max_pool2d(2, return_indices=True)
        >>> values.max_unpool2d(indices, 2).tolist()
        [[[[0.0, 0.0], [0.0, 4.0]]]]
        """,
    )
    max_unpool3d = _unpool_of_rank(3, """Like `torch.nn.functional.max_unpool3d`; see `max_unpool2d`.""")
    avg_pool1d = _avg_pool_of_rank(1, """Like `torch.nn.functional.avg_pool1d`; see `avg_pool2d`.""")
    avg_pool2d = _avg_pool_of_rank(
        2,
        """The mean of each window of the last two dims, like `torch.nn.functional.avg_pool2d`: the zero padding
        counts in the mean unless count_include_pad=False; windows that ceil_mode adds past the padding count only
        their elements inside it. `dilation` (keyword only in practice) is tinygrad's extra.

        >>> from tg_tensor import Tensor
        >>> Tensor([[[[1.0, 2.0], [3.0, 4.0]]]]).avg_pool2d(2).tolist()
        [[[[2.5]]]]
        """,
    )
    avg_pool3d = _avg_pool_of_rank(3, """Like `torch.nn.functional.avg_pool3d`; see `avg_pool2d`.""")

    # ------------------------------------------------------------------ adaptive pooling

    def _adaptive_pool(self, nd: int, op: str, output_size: Any, how: str) -> Self:
        """Pool the last nd dims into `output_size` bins each, PyTorch's bins: bin i of n inputs into o covers
        [floor(i*n/o), ceil((i+1)*n/o)). Bins of one size (o divides n) are a window view and one reduction;
        otherwise each dim is contracted with an (o, n) host matrix of its bins."""
        if self.ndim not in (nd + 1, nd + 2):
            raise ArgumentError(
                f"{op}: input must have {nd + 1} or {nd + 2} dims (N, C, *spatial), got shape {self.shape}"
            )
        spatial = self.shape[-nd:]
        sizes = (output_size,) * nd if isinstance(output_size, int) or output_size is None else tuple(output_size)
        if len(sizes) != nd or any(o is not None and (not isinstance(o, int) or o < 0) for o in sizes):
            raise ArgumentError(f"{op}: output_size must be {nd} ints >= 0 (or None), got {output_size!r}")
        out_sp = tuple(n if o is None else o for n, o in zip(spatial, sizes, strict=True))
        for n, o in zip(spatial, out_sp, strict=True):
            if n == 0 and o > 0:
                raise ArgumentError(f"{op}: cannot pool an empty dim into {o} bins, input shape {self.shape}")
        x = self if how == "max" or self.dtype.is_float else self.cast(least_upper_float(self.dtype))
        lead = x.ndim - nd
        if all(o > 0 and n % o == 0 for n, o in zip(spatial, out_sp, strict=True)):
            split = [d for n, o in zip(spatial, out_sp, strict=True) for d in (o, n // o)]
            x = x.reshape(*x.shape[:lead], *split)
            axes = tuple(lead + 2 * i + 1 for i in range(nd))
            return x.max(axes) if how == "max" else x.mean(axes)
        for i, (n, o) in enumerate(zip(spatial, out_sp, strict=True)):
            if n == o:
                continue
            bins = np.arange(o)
            start, end = bins * n // o, -(-(bins + 1) * n // o)
            inside = (np.arange(n)[None, :] >= start[:, None]) & (np.arange(n)[None, :] < end[:, None])
            if how == "max":
                x = _contract_axis(x, lead + i, inside.astype(np.float32), "max")
            else:
                weights = inside / np.maximum(end - start, 1)[:, None]
                x = _contract_axis(x, lead + i, weights.astype(np.float32), "sum").cast(x.dtype)
        return x

    adaptive_avg_pool1d = _adaptive_pool_of_rank(
        1,
        "mean",
        """Like `torch.nn.functional.adaptive_avg_pool1d` on (N, C, L) or (C, L); see `adaptive_avg_pool2d`.""",
    )
    adaptive_avg_pool2d = _adaptive_pool_of_rank(
        2,
        "mean",
        """The mean of each of output_size bins of the last two dims, like `torch.nn.functional.adaptive_avg_pool2d`
        (bins may overlap when the size does not divide; None keeps a dim's size). Integers give floats.

        >>> from tg_tensor import Tensor
        >>> Tensor([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]]).adaptive_avg_pool2d(1).tolist()
        [[[[3.5]]]]
        >>> Tensor([[[[1.0, 2.0, 3.0]]]]).adaptive_avg_pool2d((1, 2)).tolist()
        [[[[1.5, 2.5]]]]
        """,
    )
    adaptive_avg_pool3d = _adaptive_pool_of_rank(
        3, "mean", """Like `torch.nn.functional.adaptive_avg_pool3d` on (N, C, D, H, W) or (C, D, H, W)."""
    )
    adaptive_max_pool1d = _adaptive_pool_of_rank(
        1, "max", """Like `torch.nn.functional.adaptive_max_pool1d`; see `adaptive_max_pool2d`."""
    )
    adaptive_max_pool2d = _adaptive_pool_of_rank(
        2,
        "max",
        """The maximum of each of output_size bins of the last two dims, like
        `torch.nn.functional.adaptive_max_pool2d` (ties share the gradient; return_indices is not supported).

        >>> from tg_tensor import Tensor
        >>> Tensor([[[[1.0, 7.0, 3.0], [4.0, 5.0, 6.0]]]]).adaptive_max_pool2d((1, 2)).tolist()
        [[[[7.0, 7.0]]]]
        """,
    )

    # ------------------------------------------------------------------ resampling

    def interpolate(
        self,
        size: int | Sequence[int] | None = None,
        scale_factor: float | Sequence[float] | None = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> Self:
        """Resize the spatial dims of (N, C, *spatial) like `torch.nn.functional.interpolate`: give `size` or
        `scale_factor`; mode 'nearest' (source index floor(out_index * scale)), 'nearest-exact', or 'linear' /
        'bilinear' / 'trilinear' (linear along every spatial dim; 'linear' takes any number of them, as in
        tinygrad). With a scale_factor the source coordinates use it (as PyTorch does), unless
        recompute_scale_factor=True.

        Each resized dim is a contraction with a small (out, in) weight matrix computed on the host (one-hot for
        nearest); nearest resizing by a whole factor up or down is a view instead.

        >>> from tg_tensor import Tensor
        >>> Tensor([[[1.0, 2.0]]]).interpolate(scale_factor=2).tolist()
        [[[1.0, 1.0, 2.0, 2.0]]]
        >>> Tensor([[[1.0, 2.0]]]).interpolate(size=3, mode="linear", align_corners=True).tolist()
        [[[1.0, 1.5, 2.0]]]
        """
        op = "interpolate"
        if self.ndim < 3:
            raise ArgumentError(
                f"interpolate: input must be (N, C, *spatial) with at least 3 dims, got shape {self.shape}"
            )
        nd = self.ndim - 2
        linear_ranks = {"linear": None, "bilinear": 2, "trilinear": 3}
        if mode not in ("nearest", "nearest-exact", *linear_ranks):
            raise ArgumentError(f"interpolate: mode {mode!r} is not supported (nearest, nearest-exact, (bi/tri)linear)")
        if linear_ranks.get(mode) not in (None, nd):
            raise ArgumentError(
                f"interpolate: mode {mode!r} needs {linear_ranks[mode]} spatial dims, input has shape {self.shape}"
            )
        if mode.startswith("nearest") and align_corners is not None:
            raise ArgumentError(f"interpolate: align_corners only applies to the linear modes, not {mode!r}")
        if (size is None) == (scale_factor is None):
            raise ArgumentError("interpolate: give exactly one of size and scale_factor")
        spatial = self.shape[2:]
        if size is not None:
            out_sp = _per_dim(size, nd, "size", op, low=0)
            scales: list[float | None] = [None] * nd
        else:
            sf = (scale_factor,) * nd if isinstance(scale_factor, (int, float)) else tuple(scale_factor)  # type: ignore[arg-type]
            if len(sf) != nd or any(not isinstance(f, (int, float)) or f <= 0 for f in sf):
                raise ArgumentError(f"interpolate: scale_factor must be > 0, one or {nd} of them, got {scale_factor!r}")
            out_sp = tuple(int(math.floor(n * f)) for n, f in zip(spatial, sf, strict=True))
            scales = [None if recompute_scale_factor else 1.0 / f for f in sf]
        x = self
        for i, (n, o, sc) in enumerate(zip(spatial, out_sp, scales, strict=True)):
            x = _resample_axis(x, 2 + i, n, o, sc, mode, bool(align_corners))
        return x
