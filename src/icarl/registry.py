"""One registry helper for everything a user can add by name: backbones (:mod:`icarl.nets`),
data formats (:mod:`icarl.data`), methods (:mod:`icarl.methods`), classifier rules
(:mod:`icarl.algorithm.classifiers`) and loggers (:mod:`icarl.experiment.loggers`).

A registry maps names to entries in the order they were registered. Registering a name
again replaces the entry with a warning (timm's rule: a silent replacement is how two
plugins end up fighting over a name); ``replace=True`` says the replacement is meant.
An unknown name is a one-line error that lists the known ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import IcarlError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries of one kind (``kind`` names it in messages: "backbone", "method", ...)."""

    def __init__(self, kind: str, error: type[IcarlError] = IcarlError, hint: str = "") -> None:
        self.kind = kind
        self._error = error
        self._hint = hint  # appended to the unknown-name message, e.g. "or package.module:factory"
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, *, replace: bool = False) -> T:
        """Add ``entry`` under ``name`` and return it; a second registration of a name warns
        (``replace=True``: silently) and replaces the first."""
        old = self._entries.get(name)
        if old is not None and old is not entry and not replace:
            warnings.warn(f"{self.kind} {name!r} was registered before; replacing it", stacklevel=3)
        self._entries[name] = entry
        return entry

    def decorator(self, name: str) -> Callable[[T], T]:
        """``@registry.decorator("name")`` registers the decorated object."""

        def add(entry: T) -> T:
            return self.register(name, entry)

        return add

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests and plugins that clean up after themselves)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            hint = f", {self._hint}" if self._hint else ""
            raise self._error(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(self.available())}{hint}"
            ) from None

    def available(self) -> list[str]:
        """The names, sorted (what ``--help`` and error messages list)."""
        return sorted(self._entries)

    def names(self) -> list[str]:
        """The names in the order they were registered (the order tables and records use)."""
        return list(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(list(self._entries.items()))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
