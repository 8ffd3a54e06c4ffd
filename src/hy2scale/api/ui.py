"""Serves the built admin UI (web/ → src/hy2scale/web/dist/) under the base path.

index.html gets `window.__BASE__` and `window.__BUILD_ID__` injected so one bundle works under any
base path (and behind a peer's /remote/ proxy, which rewrites the exact `window.__BASE__="/scale"`
literal). Hashed assets are immutable; index.html is never cached so a deploy is picked up at once.
"""

from __future__ import annotations

import functools
import hashlib
import html
import logging
import mimetypes
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

log = logging.getLogger(__name__)

DEFAULT_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache, no-store, must-revalidate"
# Paths under the base that belong to the server, never to the SPA.
_SERVER_PREFIXES = ("api/", "sub/", "remote/")

_NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>hy2scale: UI not built</title>
<style>body{{font:16px system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}}
code{{background:#eee;padding:.1rem .3rem;border-radius:4px}}</style></head><body>
<h1>The web UI has not been built</h1>
<p>This node is running and its REST API is available under <code>{base}/api/</code>
(docs at <a href="{base}/api/docs">{base}/api/docs</a>), but the admin UI files are missing from
<code>{dist}</code>.</p>
<p>Build them with <code>make ui</code> (runs <code>npm ci &amp;&amp; npm run build</code> in
<code>web/</code>), then reload this page.</p></body></html>"""


def normalize_base(base_path: str) -> str:
    """'/scale/' → '/scale', 'scale' → '/scale', '/' or '' → '' (served at the root)."""
    base = base_path.strip().strip("/")
    return f"/{base}" if base else ""


def build_id(index_html: bytes) -> str:
    """First 16 hex characters of sha256(index.html): changes whenever the bundle changes."""
    return hashlib.sha256(index_html).hexdigest()[:16]


def inject_globals(index_html: bytes, base: str, bid: str, *, proxied: bool = False) -> bytes:
    # ``proxied``: the page manages a remote node through ``{base}/remote/{chain}`` (api/routers/remote.py).
    flag = "window.__PROXY__=true;" if proxied else ""
    script = f'<script>window.__BASE__="{base}";{flag}window.__BUILD_ID__="{bid}";</script>'.encode()
    head = index_html.find(b"<head>")
    if head < 0:
        return script + index_html
    cut = head + len(b"<head>")
    return index_html[:cut] + script + index_html[cut:]


class _Dist:
    """The built files; index.html is kept injected in memory and re-read when a rebuild replaces it."""

    def __init__(self, root: Path, base: str) -> None:
        self.root = root.resolve()
        self.base = base
        self.raw_index: bytes | None = None
        self.build_id: str | None = None
        self.index: bytes | None = None
        self._stamp: tuple[int, int] | None = None
        self.refresh()

    def refresh(self) -> None:
        # A rebuild (`make ui`) swaps the hashed assets under a running node; serving the old index
        # would point browsers at files that no longer exist.
        try:
            st = (self.root / "index.html").stat()
        except OSError:
            self.raw_index = self.build_id = self.index = None
            self._stamp = None
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        self.raw_index = (self.root / "index.html").read_bytes()
        self.build_id = build_id(self.raw_index)
        self.index = inject_globals(self.raw_index, self.base, self.build_id)
        self._stamp = stamp

    def file(self, rel: str) -> Path | None:
        """A file inside the dist tree, or None (also for any path escaping it)."""
        if not rel or rel.endswith("/"):
            return None
        candidate = (self.root / rel).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate


def mount_ui(app: FastAPI, base_path: str, dist_dir: Path | None = None) -> None:
    """Register the UI routes; call after every API router so they never shadow the API."""
    base = normalize_base(base_path)
    dist = _Dist(dist_dir or DEFAULT_DIST, base)
    app.state.ui_build_id = dist.build_id
    app.state.ui_dist = dist
    # GET /api/build-id re-checks index.html through this, so an open tab sees a rebuild on its next poll.
    app.state.ui_refresh_build_id = functools.partial(_current_build_id, app, dist)
    if dist.index is None:
        log.warning("event=ui_not_built dist=%s", dist.root)
    else:
        log.info("event=ui_mounted base=%s build_id=%s", base or "/", dist.build_id)

    def index_response() -> Response:
        dist.refresh()
        app.state.ui_build_id = dist.build_id
        if dist.index is None:
            page = _NOT_BUILT.format(base=html.escape(base), dist=html.escape(str(dist.root)))
            return HTMLResponse(page, status_code=503, headers={"Cache-Control": NO_CACHE})
        return Response(
            dist.index, media_type="text/html; charset=utf-8", headers={"Cache-Control": NO_CACHE}
        )

    async def serve(request: Request) -> Response:
        rel = request.path_params.get("rel", "")
        if rel.startswith(_SERVER_PREFIXES) or rel in ("api", "sub", "remote"):
            return JSONResponse({"error": "not found"}, status_code=404)
        return _ui_file(dist, rel, index_response)

    if base:

        async def redirect(request: Request) -> Response:
            query = f"?{request.url.query}" if request.url.query else ""
            return RedirectResponse(f"{base}/{query}", status_code=301)

        app.add_api_route(base, redirect, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(f"{base}/", serve, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(f"{base}/{{rel:path}}", serve, methods=["GET", "HEAD"], include_in_schema=False)


def _ui_file(dist: _Dist, rel: str, index_response: Callable[[], Response]) -> Response:
    """A file of the built UI, or the SPA's index for a client-side route."""
    if rel in ("", "index.html"):
        return index_response()
    parts = rel.split("/")
    # Assets are addressed relatively (vite base "./"), so a nested route may ask for them
    # under its own prefix; always resolve them from dist/assets.
    if len(parts) >= 2 and parts[-2] == "assets":
        asset = dist.file(f"assets/{parts[-1]}")
        if asset is None:
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(asset, media_type=_media_type(asset), headers={"Cache-Control": IMMUTABLE})
    static = dist.file(rel)
    if static is not None:
        return FileResponse(static, media_type=_media_type(static), headers={"Cache-Control": "no-cache"})
    if "." in parts[-1]:
        return JSONResponse({"error": "not found"}, status_code=404)
    return index_response()


def proxied_ui(app: FastAPI, rel: str, prefix: str) -> Response:
    """Our own UI bundle managing a remote node under ``prefix`` (``{base}/remote/{chain}``).

    A peer's pages are never served on this origin: its script could read this node's admin
    token. Only the peer's API is proxied; the pages are ours, pointed at that API.
    """
    dist: _Dist | None = getattr(app.state, "ui_dist", None)
    if dist is None:
        return JSONResponse({"error": "the UI is not mounted"}, status_code=404)

    def index_response() -> Response:
        dist.refresh()
        if dist.raw_index is None or dist.build_id is None:
            return JSONResponse({"error": "the UI is not built (run `make ui`)"}, status_code=503)
        page = inject_globals(dist.raw_index, prefix, dist.build_id, proxied=True)
        return Response(page, media_type="text/html; charset=utf-8", headers={"Cache-Control": NO_CACHE})

    return _ui_file(dist, rel, index_response)


def _current_build_id(app: FastAPI, dist: _Dist) -> str | None:
    dist.refresh()
    app.state.ui_build_id = dist.build_id
    return dist.build_id


def _media_type(path: Path) -> str:
    kind, _ = mimetypes.guess_type(path.name)
    if path.suffix == ".js":
        return "text/javascript; charset=utf-8"
    return kind or "application/octet-stream"
