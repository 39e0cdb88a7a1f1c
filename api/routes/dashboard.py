"""The browser dashboard: a static page at `/` and its assets under `/dashboard/`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from api.errors import not_found

router = APIRouter(include_in_schema=False)
FOLDER = Path(__file__).resolve().parent.parent / "dashboard"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Assets are revalidated on every load, so a new release shows up without a hard refresh;
# the page runs only its own scripts and styles and talks only to this origin.
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
}


def _asset(name: str) -> FileResponse:
    """One file of the dashboard folder, by exact name (no paths, nothing outside it)."""
    path = FOLDER / name
    if "/" in name or "\\" in name or path.suffix not in MEDIA_TYPES or not path.is_file():
        raise not_found("dashboard file", name)
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
def index() -> FileResponse:
    """The dashboard's single page (it routes itself by the URL fragment)."""
    return _asset("index.html")


@router.api_route("/dashboard/{name}", methods=["GET", "HEAD"])
def asset(name: str) -> FileResponse:
    """A script, stylesheet or icon of the dashboard."""
    return _asset(name)
