"""Cursor pagination shared by every list endpoint."""

from __future__ import annotations

from typing import Any

from sqlalchemy import tuple_
from sqlalchemy.orm import Session

from db.models import is_id


def page(
    session: Session, query: Any, model: Any, *, limit: int, cursor: str | None, owner_id: str
) -> tuple[list[Any], str | None]:
    """One page of an owner's rows, newest first, continuing after the row `cursor` names."""
    if cursor and is_id(cursor):  # an unknown cursor starts from the top
        after = session.get(model, cursor)
        if after is not None and after.owner_id == owner_id:
            query = query.where(tuple_(model.created_at, model.id) < (after.created_at, after.id))
    rows = list(
        session.scalars(query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1))
    )
    has_more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if has_more and rows else None)
