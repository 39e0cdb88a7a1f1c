"""Values from the service in a few words: numbers, times, sizes, backbone and dataset references."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def number(value: Any, spec: str = ".4f") -> str:
    """A number formatted, or '-' for none."""
    return "-" if value is None else format(float(value), spec)


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 timestamp (naive ones are UTC)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def local_time(text: str | None) -> str | None:
    """A timestamp in local time, to the second."""
    value = parse_time(text)
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else text


def eta(finish: datetime | None, *, now: datetime | None = None) -> str | None:
    """When something should finish: '~3 min left' within the hour, else 'eta 14:32:05' (local)."""
    if finish is None:
        return None
    now = now or datetime.now(UTC)
    left = time_left(finish, now=now)
    if left is not None:
        return left
    local = finish.astimezone()
    same_day = local.date() == now.astimezone().date()
    return "eta " + local.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S")


def time_left(finish: datetime, *, now: datetime | None = None) -> str | None:
    """'~3 min left' (or '<1 min left') when `finish` is within the hour, else None."""
    left = (finish - (now or datetime.now(UTC))).total_seconds()
    if left < 60:
        return "<1 min left"
    return f"~{round(left / 60)} min left" if left < 3600 else None


def duration(started_at: str | None, finished_at: str | None) -> str | None:
    """How long something that started and finished took."""
    start, end = parse_time(started_at), parse_time(finished_at)
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def size(count: int) -> str:
    """A byte count in B, KB, MB or GB."""
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


def backbone_text(backbone: dict[str, Any] | None) -> str:
    """A backbone reference in a few words."""
    if not backbone:
        return "-"
    if backbone.get("model_id"):
        return f"model {backbone['model_id']}"
    name = backbone.get("name") or backbone.get("artifact") or "-"
    weights = backbone.get("weights")
    return f"{name} ({weights})" if weights and weights != "imagenet" else str(name)


def dataset_text(dataset: dict[str, Any] | None) -> str:
    """A dataset reference in a few words."""
    if not dataset:
        return "-"
    if dataset.get("upload_id"):
        return f"upload {dataset['upload_id']}"
    if dataset.get("uri"):
        return str(dataset["uri"])
    return str(dataset.get("name") or Path(str(dataset.get("path") or "-")).name)
