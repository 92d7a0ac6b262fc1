"""Finding the tensors of a model: `get_state_dict` (named) and `get_parameters`.

>>> from tg_nn import Linear
>>> sorted(get_state_dict({"fc": Linear(2, 3)}))
['fc.bias', 'fc.weight']
"""

from __future__ import annotations

from typing import Any

from tg_tensor import Tensor


def get_state_dict(obj: Any, prefix: str = "") -> dict[str, Tensor]:
    """Every Tensor reachable through attributes, lists, tuples and dicts, keyed by its dotted path.

    A sub-object reached under two names (tied layers) appears under both; a reference cycle is followed once.
    """
    out: dict[str, Tensor] = {}
    # (name, object, ids of the objects on the path to it): only a path that loops back on itself is cut
    stack: list[tuple[str, Any, frozenset[int]]] = [(prefix, obj, frozenset())]
    while stack:
        name, o, path = stack.pop()
        if isinstance(o, Tensor):
            out[name] = o
            continue
        if id(o) in path:
            continue
        if isinstance(o, dict):
            items = [(str(k), v) for k, v in o.items()]
        elif isinstance(o, (list, tuple)):
            items = [(str(i), v) for i, v in enumerate(o)]
        elif hasattr(o, "__dict__"):
            items = list(vars(o).items())
        else:
            continue
        inner = path | {id(o)}
        stack.extend((f"{name}.{k}" if name else k, v, inner) for k, v in reversed(items))
    return out


def get_parameters(obj: Any) -> list[Tensor]:
    """The tensors of `get_state_dict`, each once."""
    seen: set[int] = set()
    params = []
    for t in get_state_dict(obj).values():
        if id(t) not in seen:
            seen.add(id(t))
            params.append(t)
    return params
