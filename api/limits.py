"""A cap on JSON request bodies, so a huge job spec is a 413 and never lands whole in memory.

Uploads and predictions stream their bodies with caps of their own (api/uploads.py).
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import body


class JsonBodyLimit:
    """Refuse JSON bodies over max_bytes with 413, by Content-Length or as they stream in.

    A JSON body is read here (it is small, or refused) and handed on to the app in one piece.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, exempt: tuple[str, ...] = ()) -> None:
        self.app, self.max_bytes, self.exempt = app, max_bytes, exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._applies(scope):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        whole: list[Message] = [{"type": "http.request", "body": b"".join(chunks)}]

        async def replay() -> Message:
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)

    def _applies(self, scope: Scope) -> bool:
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            return False
        if any(scope.get("path", "").endswith(suffix) for suffix in self.exempt):
            return False
        content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
        return content_type.split(b";")[0].strip().lower() == b"application/json"

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            body("payload_too_large", f"the JSON body is over the {self.max_bytes}-byte limit"),
            status_code=413,
        )
        await response(scope, receive, send)
