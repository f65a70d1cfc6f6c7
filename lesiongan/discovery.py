"""Plug-ins found by importing them: every module of a package, so its registration decorators run.

The training methods (`lesiongan.methods`, `@register_method`) and the networks
(`lesiongan.nets`, `@register`) are open sets: a new file in the package is found, with no
list to extend. A module whose name starts with "_" (a template, a private helper) is left
out. A module that fails to import is an error, not skipped: a broken plug-in says so.
"""

from __future__ import annotations

import importlib
import pkgutil


def import_submodules(package: str) -> list[str]:
    """Import every public module of `package` (the names, in file-name order)."""
    parent = importlib.import_module(package)
    names = sorted(info.name for info in pkgutil.iter_modules(parent.__path__) if not info.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names
