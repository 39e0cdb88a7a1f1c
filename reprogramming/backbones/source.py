"""What every family of named backbones provides: its names, a catalog entry, a builder."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from reprogramming.backbones.base import Backbone

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class BackboneInfo:
    """A catalog entry."""

    name: str
    source: str
    available_offline: bool
    input_size: int | None = None


class BackboneSource(ABC):
    """A family of pretrained classifiers: which names are its, and how to build one of them."""

    # The registry's key for the family.
    family: ClassVar[str]

    @property
    @abstractmethod
    def naming(self) -> str:
        """How the family's names are written, for the error that lists what exists."""

    @abstractmethod
    def owns(self, name: str) -> bool:
        """Whether `name` is written in this family's scheme (it may still name no model)."""

    @abstractmethod
    def check(self, name: str) -> None:
        """Raise UnknownNameError unless this family can build the model `name` names."""

    @abstractmethod
    def build(self, name: str, weights: str) -> Backbone:
        """The backbone `name` names, with pretrained ('imagenet', an enum name) or random weights."""

    @abstractmethod
    def catalog(self) -> list[BackboneInfo]:
        """The family's entries in the backbone catalog."""
