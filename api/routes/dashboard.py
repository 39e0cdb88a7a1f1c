"""The browser dashboard: a static page at `/` and its assets under `/dashboard/`."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, Response
from starlette.datastructures import MutableHeaders
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reprogram.statuses import ACTIVE, JobStatus

router = APIRouter(include_in_schema=False)
FOLDER = Path(__file__).resolve().parent.parent / "dashboard"
# Assets are revalidated on every load, so a new release shows up without a hard refresh;
# the page runs only its own scripts and styles and talks only to this origin.
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> FileResponse:
    """The dashboard's single page (it routes itself by the URL fragment)."""
    return FileResponse(FOLDER / "index.html", media_type="text/html; charset=utf-8")


@router.get("/dashboard/statuses.js")
def statuses() -> Response:
    """The job statuses as a JavaScript module, written from the one JobStatus enum."""
    order = list(JobStatus)
    active = [str(status) for status in order if status in ACTIVE]
    text = (
        f"export const STATUSES = {json.dumps([str(status) for status in order])};\n"
        f"export const ACTIVE = {json.dumps(active)};\n"
    )
    return Response(text, media_type="text/javascript; charset=utf-8")


class DashboardHeaders:
    """Adds the dashboard's caching and content-security headers to its responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != "/" and not path.startswith("/dashboard/"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Serve the page and its assets (Starlette's StaticFiles: no paths outside the folder)."""
    app.include_router(router)
    app.mount("/dashboard", StaticFiles(directory=FOLDER), name="dashboard")
    app.add_middleware(DashboardHeaders)
