"""Owner-scoped queries: every read of an owner's rows starts from what that owner may see."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, Select, select, tuple_
from sqlalchemy.orm import Session

from db.models import Credential, Dataset, Job, Model, Sweep, WebhookEndpoint, is_id

# The tables whose rows belong to an owner.
M = TypeVar("M", Job, Dataset, Model, WebhookEndpoint, Credential, Sweep)


class OwnedRepository(Generic[M]):
    """One owner's rows of one table; another owner's rows read as missing."""

    def __init__(self, session: Session, model: type[M], *, owner_id: str) -> None:
        self.session = session
        self.model: type[M] = model
        self.owner_id = owner_id

    def readable(self) -> Select[M]:
        """The statement every query of this repository starts from."""
        return select(self.model).where(self.model.owner_id == self.owner_id)

    def get(self, id: str) -> M | None:
        """The row with this id, if the owner owns it."""
        row = self.session.get(self.model, id) if is_id(id) else None
        return row if row is not None and row.owner_id == self.owner_id else None

    def page(
        self, *, limit: int, cursor: str | None, where: Iterable[ColumnElement[bool]] = ()
    ) -> tuple[list[M], str | None]:
        """One page of rows, newest first, after the row `cursor` names; (rows, next cursor)."""
        query = self.readable().where(*where)
        after = self.get(cursor) if cursor else None  # an unknown cursor starts from the top
        if after is not None:
            query = query.where(
                tuple_(self.model.created_at, self.model.id) < (after.created_at, after.id)
            )
        order = (self.model.created_at.desc(), self.model.id.desc())
        rows = list(self.session.scalars(query.order_by(*order).limit(limit + 1)))
        has_more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1].id if has_more and rows else None)
