"""How the client commands print: JSON documents, aligned tables and `key  value` blocks."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields, is_dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from reprogram.commands.exits import Exit


def plain(obj: Any) -> dict[str, Any]:
    """A dataclass from the SDK as JSON-ready data (its private fields left out)."""
    return {f.name: _json_ready(getattr(obj, f.name)) for f in fields(obj)
            if not f.name.startswith("_")}  # fmt: skip


def _json_ready(value: Any) -> Any:
    """A field's value as JSON can hold it: parsed timestamps back to ISO 8601, nested objects
    (a sweep's trials) as dicts."""
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return plain(value)
    return value.isoformat() if isinstance(value, datetime) else value


def print_listing(
    items: Iterable[Any],
    *,
    limit: int,
    as_json: bool,
    headers: Sequence[str],
    row: Callable[[Any], Sequence[Any]],
    empty: str,
) -> int:
    """The newest `limit` items (0: all) as {"data", "has_more"} JSON or as a table."""
    taken, more = _take(items, limit)
    if as_json:
        print_json({"data": [plain(i) for i in taken], "has_more": more})
        return Exit.OK
    print_table(headers, [row(i) for i in taken], empty=empty)
    if more:
        print(f"(showing the newest {limit}; --limit 0 lists all)", file=sys.stderr)
    return Exit.OK


def print_one(
    obj: Any, *, fields: Callable[[Any], Iterable[tuple[str, Any]]], as_json: bool
) -> int:
    """One job, model, dataset or webhook as JSON or as aligned `key  value` lines."""
    if as_json:
        print_json(plain(obj))
    else:
        print_fields(fields(obj))
    return Exit.OK


def print_deleted(kind: str, item_id: str, *, as_json: bool) -> int:
    """Confirm a deletion: `deleted model mdl_...`, or {"id", "object", "deleted": true}."""
    if as_json:
        print_json({"id": item_id, "object": kind, "deleted": True})
    else:
        print(f"deleted {kind} {item_id}")
    return Exit.OK


def print_json(data: Any) -> None:
    """One JSON document on stdout."""
    print(json.dumps(data, indent=2, ensure_ascii=False), flush=True)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, empty: str) -> None:
    """An aligned table on stdout (a note on stderr when there are no rows)."""
    if not rows:
        print(f"({empty})", file=sys.stderr)
        return
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]
    for row in (headers, *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def print_fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """Aligned `key  value` lines, leaving out empty values."""
    shown = [(k, v) for k, v in pairs if v not in (None, "", "-")]
    width = max(len(k) for k, _ in shown)
    for key, value in shown:
        print(f"{key.ljust(width)}  {value}")


def _take(items: Iterable[Any], limit: int) -> tuple[list[Any], bool]:
    """The first `limit` items (all for 0) and whether there were more."""
    if limit == 0:
        return list(items), False
    taken = list(islice(items, limit + 1))
    return taken[:limit], len(taken) > limit
