"""The registry of backbone sources: one per family, a name resolved to the family that owns it."""

from __future__ import annotations

from collections.abc import Iterator

from reprogramming.backbones.source import BackboneSource
from reprogramming.errors import UnknownNameError
from reprogramming.registry import DuplicateRegistrationError


class BackboneRegistry:
    """Backbone sources by family, asked in registration order which of them owns a name."""

    def __init__(self) -> None:
        self._sources: dict[str, BackboneSource] = {}

    def register(self, source: BackboneSource) -> BackboneSource:
        """Add a source; a second one for the same family is refused."""
        if source.family in self._sources:
            raise DuplicateRegistrationError(
                f"a backbone source for '{source.family}' is already registered"
            )
        self._sources[source.family] = source
        return source

    def source_for(self, name: str) -> BackboneSource:
        """The source whose name scheme `name` is written in, or an UnknownNameError."""
        for source in self._sources.values():
            if source.owns(name):
                return source
        raise UnknownNameError(
            f"unknown backbone '{name}'; use one of {self._namings()}", field="backbone.name"
        )

    def _namings(self) -> str:
        """'a, b or c': how each family's names are written."""
        namings = [source.naming for source in self._sources.values()]
        return " or ".join(filter(None, [", ".join(namings[:-1]), *namings[-1:]]))

    def __iter__(self) -> Iterator[BackboneSource]:
        return iter(self._sources.values())

    def __contains__(self, family: str) -> bool:
        return family in self._sources
