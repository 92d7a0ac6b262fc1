"""tg_nn.state: dotted names of the tensors of nested objects, lists, tuples and dicts; parameters deduplicated."""

from __future__ import annotations

import numpy as np

from tg_nn import Linear, optim
from tg_nn.state import get_parameters, get_state_dict
from tg_tensor import Tensor


class Block:
    def __init__(self) -> None:
        self.l1 = Linear(2, 3)
        self.act = "relu"  # non-tensor attributes are ignored
        self.scale = 0.5
        self.nothing = None


class Model:
    def __init__(self) -> None:
        self.emb = Tensor.zeros(4, 2)
        self.block = Block()
        self.layers = [Linear(3, 3), Linear(3, 1, bias=False)]
        self.heads = {"cls": Linear(1, 2), 7: Tensor.ones(2)}
        self.pair = (Tensor.ones(1), [Tensor.zeros(3)])


def test_state_dict_keys_and_values_for_nested_containers() -> None:
    m = Model()
    sd = get_state_dict(m)
    expected = {
        "emb": m.emb,
        "block.l1.weight": m.block.l1.weight,
        "block.l1.bias": m.block.l1.bias,
        "layers.0.weight": m.layers[0].weight,
        "layers.0.bias": m.layers[0].bias,
        "layers.1.weight": m.layers[1].weight,
        "heads.cls.weight": m.heads["cls"].weight,
        "heads.cls.bias": m.heads["cls"].bias,
        "heads.7": m.heads[7],
        "pair.0": m.pair[0],
        "pair.1.0": m.pair[1][0],
    }
    assert set(sd) == set(expected)
    for k, t in expected.items():
        assert sd[k] is t, k
    # PyTorch order: depth first, in the order the attributes were set
    assert list(sd) == list(expected)


def test_state_dict_prefix_and_top_level_containers() -> None:
    lin = Linear(2, 2)
    assert list(get_state_dict(lin, prefix="fc")) == ["fc.weight", "fc.bias"]
    assert list(get_state_dict([lin, {"x": lin.weight}])) == ["0.weight", "0.bias", "1.x"]
    t = Tensor.ones(3)
    assert get_state_dict(t, prefix="w") == {"w": t}


def test_state_dict_of_objects_without_tensors_is_empty() -> None:
    assert get_state_dict(object()) == {}
    assert get_state_dict({"a": 1, "b": [2.0, "x"], "c": None}) == {}
    assert get_state_dict(3) == {}


def test_state_dict_survives_reference_cycles() -> None:
    class Node:
        pass

    a, b = Node(), Node()
    a.w = Tensor.ones(1)
    a.child = b
    b.parent = a
    b.v = Tensor.zeros(1)
    sd = get_state_dict(a)
    assert sd["w"] is a.w and sd["child.v"] is b.v
    assert all(not k.startswith("child.parent.child") for k in sd)


def test_shared_tensor_has_every_name_but_is_one_parameter() -> None:
    class Tied:
        def __init__(self) -> None:
            self.enc = Linear(3, 3)
            self.dec_weight = self.enc.weight
            self.extra = [self.enc.bias]

    m = Tied()
    sd = get_state_dict(m)
    assert sd["enc.weight"] is sd["dec_weight"] is m.enc.weight
    assert sd["extra.0"] is m.enc.bias
    params = get_parameters(m)
    assert len(params) == 2
    assert params[0] is m.enc.weight and params[1] is m.enc.bias


def test_get_parameters_order_and_identity() -> None:
    m = Model()
    params = get_parameters(m)
    values = list(get_state_dict(m).values())
    assert len(params) == len(values)
    assert all(p is q for p, q in zip(params, values, strict=True))
    assert len(params) == 11
    assert len({id(p) for p in params}) == len(params)


def test_get_parameters_feeds_an_optimizer() -> None:
    m = Block()
    opt = optim.SGD(get_parameters(m), lr=1.0)
    x = Tensor(np.array([[1.0, 2.0]], dtype=np.float32))
    m.l1(x).sum().backward()
    w0, b0 = m.l1.weight.numpy(), m.l1.bias.numpy()
    opt.step()
    # d(sum(x W^T + b))/dW = ones(3, 1) @ x, d/db = ones(3)
    np.testing.assert_allclose(m.l1.weight.numpy(), w0 - np.array([[1.0, 2.0]] * 3), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m.l1.bias.numpy(), b0 - 1.0, rtol=1e-6, atol=1e-6)
