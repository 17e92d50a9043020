"""Methods from outside icarl: a module the user names, or an installed entry point.

Two ways in (docs/experiments.md#your-own-method-plugins):

- ``--plugin MODULE`` on the command line (Python: ``import MODULE``) imports a module that
  registers its methods at its top level, ``icarl.methods.register(Method(...))``;
- an installed distribution declares entry points in the group ``icarl.methods``, each named
  like its method and pointing at a :class:`~icarl.methods.Method` (or a callable without
  arguments that returns one)::

      [project.entry-points."icarl.methods"]
      mine = "mypkg.methods:MINE"

  ``--method mine`` (or ``--methods icarl,mine``) then loads it; ``--plugin mypkg.methods``
  loads every entry point of that module.

Importing a module runs its code. A module or a method the user names on the command line
(or imports in Python) is the user's choice. A method named inside a file (a model file, a
checkpoint, ``results.json``, ``grid.json``) is the file's: :func:`icarl.methods.get` never
imports anything, so such a name resolves only to a method already registered, and
:func:`for_file` says which installed plugin provides it and how to allow it, as
:func:`icarl.nets.adapt.check_consent` does for a backbone.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ..config import ConfigError
from ..errors import IcarlError
from . import Method, available, get, register

GROUP = "icarl.methods"
NAME_MAX_CHARS = 200
# never plugins: the standard library and builtins run code a user did not write for icarl
NEVER_PLUGINS = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names) | {"__main__"}


class PluginError(ConfigError):
    """A plugin cannot be imported or registers nothing usable."""


class PluginConsentError(IcarlError):
    """A file names a method whose plugin the user has not allowed to be imported."""


def check_module_name(name: str, what: str = "--plugin") -> str:
    """``name`` if it is a dotted module name outside the standard library (checked before
    anything is imported)."""
    parts = name.split(".")
    if len(name) > NAME_MAX_CHARS or not all(p.isidentifier() for p in parts):
        raise PluginError(f"{what} {name[:80]!r} is not a module name (dotted identifiers); name your module")
    if parts[0] in NEVER_PLUGINS:
        raise PluginError(f"{what} {name!r} is a standard library module, never a plugin; name your module")
    return name


def installed() -> dict[str, EntryPoint]:
    """The entry points of the group ``icarl.methods`` (method name -> entry point); nothing
    is imported. The first of two distributions giving one name wins."""
    out: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        out.setdefault(ep.name, ep)
    return out


def _as_method(obj: Any, where: str) -> Method:
    method = obj() if callable(obj) and not isinstance(obj, Method) else obj
    if not isinstance(method, Method):
        raise PluginError(
            f"{where} gives {type(method).__name__}, not an icarl.methods.Method; return a Method"
        )
    return method


def load_installed(name: str) -> Method:
    """The method of the installed entry point ``name``, imported and registered."""
    ep = installed()[name]
    where = f"the entry point {name} = {ep.value!r} (group {GROUP})"
    check_module_name(ep.module, where)
    try:
        obj = ep.load()
    except Exception as e:  # the plugin's own failure, as one line
        raise PluginError(
            f"{where} cannot be loaded ({type(e).__name__}: {_first(e)}); fix or remove it"
        ) from None
    method = _as_method(obj, where)
    if method.name != name:
        raise PluginError(f"{where} gives the method {method.name!r}; name the entry point as its method")
    return register(method)


def use_plugin(module: str) -> list[str]:
    """Import ``module`` (the user named it), register the entry points it holds, and return
    the names of the methods it added. A module imported for the first time that adds no
    method is an error: it would silently do nothing."""
    check_module_name(module)
    before, fresh = set(available()), module not in sys.modules
    try:
        importlib.import_module(module)
    except Exception as e:
        raise PluginError(
            f"--plugin {module}: cannot import it ({type(e).__name__}: {_first(e)}); check the name and "
            "that the module is importable here (installed, or on PYTHONPATH)"
        ) from None
    for name, ep in installed().items():
        if ep.module == module and name not in available():
            load_installed(name)
    added = sorted(set(available()) - before)
    if fresh and not added:
        raise PluginError(
            f"--plugin {module} registered no method; at its top level call "
            "icarl.methods.register(Method(name, description, learner_class, settings))"
        )
    return added


def for_user(name: str) -> Method:
    """A method the user named (``--method``, ``--methods``): registered, else the installed
    entry point of that name, loaded; else the unknown-method error."""
    if name not in available() and name in installed():
        return load_installed(name)
    return get(name)


def for_file(name: str, where: str) -> Method:
    """A method a file names: registered ones only; a plugin is never imported here."""
    if name in available():
        return get(name)
    ep = installed().get(name)
    if ep is not None:
        raise PluginConsentError(
            f"{where} names the method {name!r} of the installed plugin {ep.module}, which is not loaded; "
            f"importing it runs its code: if you trust the file, pass --plugin {ep.module} "
            f"(Python: import {ep.module} first)"
        )
    return get(name)  # unknown: the registry's error, with its hint


def _first(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [""])[0][:160]
