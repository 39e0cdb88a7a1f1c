"""A small name → factory registry used for datasets and methods."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from reprogramming.errors import UnknownNameError

F = TypeVar("F", bound=Callable)


class DuplicateRegistrationError(ValueError):
    """A second registration under a name (or family) already taken: a programming error."""


@dataclass
class Entry(Generic[F]):
    name: str
    factory: F
    description: str = ""
    available: Callable[[], bool] = field(default=lambda: True)
    facts: dict[str, int] = field(default_factory=dict)  # e.g. a dataset's images and classes


class Registry(Generic[F]):
    """Named factories of one kind (e.g. 'dataset'), with a clear error for unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[F]] = {}

    def register(
        self, name: str, *, description: str = "", available: Callable[[], bool] | None = None,
        facts: dict[str, int] | None = None,
    ) -> Callable[[F], F]:  # fmt: skip
        """Decorator that adds a factory under `name`; a name already taken is refused."""

        def add(factory: F) -> F:
            if name in self._entries:
                raise DuplicateRegistrationError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = Entry(
                name, factory, description, available or (lambda: True), dict(facts or {})
            )
            return factory

        return add

    def get(self, name: str) -> Entry[F]:
        """The entry for `name`, or an UnknownNameError listing what exists."""
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise UnknownNameError(f"unknown {self.kind} '{name}'; known: {known}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[F]]:
        return iter(self._entries.values())

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)
