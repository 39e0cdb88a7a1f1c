"""Errors the engine raises for problems a user can fix; each names what is wrong."""

from __future__ import annotations


class ReprogramError(Exception):
    """Base class of the engine's user-facing errors."""

    code = "reprogram_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnknownNameError(ReprogramError, KeyError):
    """A backbone, dataset or method name that no registry holds."""

    code = "unknown_name"

    def __str__(self) -> str:
        return self.message


class UnavailableError(ReprogramError):
    """Something real but not usable here: weights or data that need a download while offline."""

    code = "unavailable"


class InvalidInputError(ReprogramError, ValueError):
    """Input data (an image, an archive, an artifact) that cannot be used."""

    code = "invalid_input"


class InvalidImageError(InvalidInputError):
    """One image of a batch cannot be decoded; `index` says which."""

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


class Cancelled(Exception):
    """Raised inside the training loop when the caller asked it to stop.

    `epoch` and `step` say where, when the loop saved a checkpoint there (1-based epoch, steps
    done in it).
    """

    def __init__(self, message: str, *, epoch: int | None = None, step: int | None = None) -> None:
        super().__init__(message)
        self.epoch, self.step = epoch, step
