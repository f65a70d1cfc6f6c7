"""Network registry: every network records how to rebuild it from plain data.

A model file stores `network_spec(net)` next to the weights; `build_network(**spec)` gives
the same network back without running code from the file.
"""

from __future__ import annotations

import copy
import functools
import inspect
from typing import Any, Callable, TypeVar

from torch import nn

from ..discovery import import_submodules
from ..errors import InputError

_ARCHITECTURES: dict[str, type[nn.Module]] = {}

ModuleType = TypeVar("ModuleType", bound=type[nn.Module])


def register(name: str) -> Callable[[ModuleType], ModuleType]:
    """Class decorator: registers `name` and stores the constructor's arguments as `net.spec`.

    The arguments must be plain data (numbers, strings, bools, lists, tuples), so the spec
    survives `torch.load(weights_only=True)`.
    """

    def decorate(cls: ModuleType) -> ModuleType:
        known = _ARCHITECTURES.get(name)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise ValueError(f"network architecture {name!r} is already registered by {known.__qualname__}")
        original_init = cls.__init__
        signature = inspect.signature(original_init)

        @functools.wraps(original_init)
        def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments: dict[str, Any] = {}
            for key, value in list(bound.arguments.items())[1:]:
                if signature.parameters[key].kind is inspect.Parameter.VAR_KEYWORD:
                    arguments.update(value)
                else:
                    arguments[key] = value
            # Set last, so a registered subclass overrides the spec its base class wrote.
            self.spec = {"arch": name, "kwargs": arguments}

        cls.__init__ = __init__  # type: ignore[method-assign]
        cls.arch = name  # type: ignore[attr-defined]
        _ARCHITECTURES[name] = cls
        return cls

    return decorate


def architectures() -> dict[str, type[nn.Module]]:
    """Every registered architecture by name: each module of `lesiongan.nets` registers its own."""
    import_submodules(__package__)
    return dict(_ARCHITECTURES)


def build_network(arch: str, **kwargs: Any) -> nn.Module:
    """A new network of architecture `arch` built with `kwargs` (as stored by `network_spec`)."""
    known = architectures()
    if arch not in known:
        raise InputError(f"network architecture {arch!r}", f"unknown; known: {', '.join(sorted(known))}")
    try:
        return known[arch](**kwargs)
    except TypeError as error:
        raise InputError(f"network architecture {arch!r}", f"bad arguments {kwargs}: {error}") from error


def unwrap(net: nn.Module) -> nn.Module:
    """The plain network inside a DistributedDataParallel or torch.compile wrapper."""
    while True:
        if hasattr(net, "_orig_mod"):
            net = net._orig_mod  # torch.compile
        elif isinstance(net, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            net = net.module
        else:
            return net


def network_spec(net: nn.Module) -> dict[str, Any]:
    """`{"arch": name, "kwargs": {...}}` of a registered network (wrappers are looked through)."""
    plain = unwrap(net)
    spec = getattr(plain, "spec", None)
    if spec is None:
        raise InputError(type(plain).__name__, "is not a registered network (use @register)")
    return copy.deepcopy(spec)
