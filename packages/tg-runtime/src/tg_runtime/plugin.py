"""Device plugins: devices of separately installed packages, found through the `tg.devices` entry point group.

A plugin package registers a device name and a factory in its `pyproject.toml`:

    [project.entry-points."tg.devices"]
    NUMPY = "tg_numpy_device:create_device"

The factory is a `DeviceFactory`: called with the device's full name (`"NUMPY"`, `"NUMPY:1"`), it returns the
`Compiled` device (allocator, compiler, program factory, capabilities; see `tg_runtime.device`) or raises
`DeviceUnavailable` saying why it cannot work here. Plugins are imported only when their device is asked for
(or listed by `Device.available()`); one that fails to load is reported there with the reason, never breaking
the built-in devices. `docs/adding-a-device.md` is the step-by-step guide; `pytest --pyargs
tg_runtime.conformance` with `DEVICE=NAME` checks a device against the contract.

>>> found = discover(frozenset({"CPU", "PYTHON"}))  # the built-in names, which no plugin may take
>>> [p.name for p in found.plugins if p.name in ("CPU", "PYTHON")]
[]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from tg_runtime.device import Compiled

ENTRY_POINT_GROUP = "tg.devices"
_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class DeviceFactory(Protocol):
    """What a plugin's entry point loads: `factory(name) -> Compiled`, or `DeviceUnavailable("why")`."""

    def __call__(self, name: str) -> Compiled: ...


@dataclass(frozen=True)
class Plugin:
    """One registered device: its name, the entry point's target (`module:function`) and its distribution."""

    name: str
    target: str
    dist: str

    def load(self) -> DeviceFactory:
        """Import the plugin's factory; ImportError or TypeError with the plugin named when that fails."""
        try:
            factory = EntryPoint(self.name, self.target, ENTRY_POINT_GROUP).load()
        except Exception as e:  # a plugin's import may fail in any way: report it, do not propagate it raw
            raise ImportError(
                f"device plugin {self.name} ({self.target}, from {self.dist}) failed to load: {e!r}"
            ) from e
        if not callable(factory):
            raise TypeError(f"device plugin {self.name}: {self.target} is not callable")
        return factory  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Discovery:
    """The plugins found, and the entry points that were refused with the reason (by name)."""

    plugins: tuple[Plugin, ...] = ()
    refused: dict[str, str] = field(default_factory=dict)


def discover(builtin: frozenset[str]) -> Discovery:
    """Every device registered in the `tg.devices` group. Names are upper case (`[A-Z][A-Z0-9_]*`); a name
    of a built-in device or one registered twice is refused, so a plugin never replaces a device silently."""
    try:
        eps = list(entry_points(group=ENTRY_POINT_GROUP))
    except Exception as e:  # broken package metadata must not break tg
        return Discovery((), {"(entry points)": f"could not read the {ENTRY_POINT_GROUP} entry points: {e!r}"})
    plugins: dict[str, Plugin] = {}
    refused: dict[str, str] = {}
    for ep in eps:
        dist = ep.dist.name if ep.dist is not None else "?"
        name = ep.name.upper()
        if not _NAME.match(name):
            refused[ep.name] = f"device plugin name {ep.name!r} (from {dist}) is not a device name ([A-Z][A-Z0-9_]*)"
        elif name in builtin:
            refused[f"{name} (plugin from {dist})"] = f"device plugin {name} has the name of a built-in device: ignored"
        elif name in plugins and plugins[name].target != ep.value:
            refused[name] = f"device {name} is registered twice ({plugins[name].dist} and {dist}): both ignored"
        else:
            plugins[name] = Plugin(name, ep.value, dist)
    return Discovery(tuple(p for n, p in plugins.items() if n not in refused), refused)
