"""Streaming multipart parsing with a hard size cap, so an oversized upload never lands whole."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from api.errors import ApiError

if TYPE_CHECKING:  # a type the library declares for checkers only
    from python_multipart.multipart import MultipartCallbacks


@dataclass
class Part:
    """One file part: its field name, file name and where its bytes went."""

    name: str
    filename: str | None
    sink: IO[bytes] | None
    size: int = 0


@dataclass
class _Collector:
    """The parser's callbacks: gathers each part's headers and sends its bytes to its sink."""

    open_sink: Callable[[str, str | None], IO[bytes] | None]
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytes = b""
    header_value: bytes = b""
    current: Part | None = None
    parts: list[Part] = field(default_factory=list)

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, disposition = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        raw = disposition.get(b"filename")
        filename = raw.decode("utf-8", "replace") if raw is not None else None
        self.current = Part(name=name, filename=filename, sink=self.open_sink(name, filename))
        self.headers = {}

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.current
        if part is not None and part.sink is not None:
            part.sink.write(data[start:end])
            part.size += end - start

    def on_part_end(self) -> None:
        if self.current is not None:
            self.parts.append(self.current)
        self.current = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the request body is over the {limit}-byte limit")


async def read_multipart(
    request: Request,
    *,
    max_bytes: int,
    open_sink: Callable[[str, str | None], IO[bytes] | None],
) -> list[Part]:
    """Parse a multipart body as it arrives; open_sink(field, filename) says where a part goes."""
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(415, "unsupported_media_type", "send multipart/form-data")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes)
    collector = _Collector(open_sink)
    parser = MultipartParser(options[b"boundary"], collector.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise too_large(max_bytes)
            parser.write(chunk)
        parser.finalize()
    except ApiError:
        raise
    except Exception as exc:
        raise ApiError(400, "bad_request", f"malformed multipart body: {exc}") from exc
    return collector.parts


def memory_sink(wanted: str) -> Callable[[str, str | None], IO[bytes] | None]:
    """Keep the parts of one field in memory (for small payloads such as images to predict)."""

    def open_sink(name: str, filename: str | None) -> IO[bytes] | None:
        return io.BytesIO() if name == wanted else None

    return open_sink
