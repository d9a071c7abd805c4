"""The UI's files, served from the package's static/ directory.

index.html names its assets under /ui/static/<version>/..., the version being a digest of the files'
names, sizes and modification times. An asset asked for under the current version can then be cached
for good (``immutable``); after an upgrade index.html names a new version and browsers fetch the new
files, with no build step and no stale JavaScript module graph (the modules import each other by
relative URL, so they stay under one version). Anything asked for under another version is served with
``no-cache`` and an ETag. Files are read once and kept while their size and mtime stay the same."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import time
from pathlib import Path
from typing import NamedTuple

from aiohttp import web

STATIC = Path(__file__).with_name("static")
VERSION_PLACEHOLDER = "{{VERSION}}"
VERSION_TTL = 2.0  # seconds a computed version is trusted; editing files in a checkout shows up soon
IMMUTABLE = "public, max-age=31536000, immutable"
TYPES = {
    ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
    ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json", ".ico": "image/x-icon",
    ".woff2": "font/woff2", ".txt": "text/plain",
}
# No inline script or style anywhere in the UI, so the policy can forbid both: a queue name or a message
# payload that slipped into the DOM as markup could not run.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class Asset(NamedTuple):
    stamp: tuple[int, int]  # (size, mtime_ns) the bytes were read at
    body: bytes
    etag: str


class Assets:
    def __init__(self, root: Path = STATIC) -> None:
        self.root = root.resolve()
        self._files: dict[str, Asset] = {}
        self._version: tuple[float, str] | None = None

    def version(self) -> str:
        now = time.monotonic()
        if self._version is not None and now - self._version[0] < VERSION_TTL:
            return self._version[1]
        digest = hashlib.sha256()
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                st = os.stat(full)
                digest.update(f"{os.path.relpath(full, self.root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        version = digest.hexdigest()[:12]
        self._version = (now, version)
        return version

    def resolve(self, rel: str) -> Path | None:
        """The file rel names inside the static directory, or None (missing, a directory, or outside)."""
        if not rel or "\0" in rel or "\\" in rel:
            return None
        candidate = (self.root / rel).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def load(self, rel: str) -> Asset | None:
        full = self.resolve(rel)
        if full is None:
            return None
        st = full.stat()
        stamp = (st.st_size, st.st_mtime_ns)
        cached = self._files.get(rel)
        if cached is not None and cached.stamp == stamp:
            return cached
        body = full.read_bytes()
        asset = Asset(stamp, body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
        self._files[rel] = asset
        return asset


def content_type(rel: str) -> str:
    suffix = os.path.splitext(rel)[1].lower()
    return TYPES.get(suffix) or mimetypes.guess_type(rel)[0] or "application/octet-stream"


def _not_found() -> web.Response:
    return web.Response(status=404, text="Not Found", content_type="text/plain")


def file_response(request: web.Request, asset: Asset, rel: str, cache: str) -> web.Response:
    headers = {"Cache-Control": cache, "ETag": asset.etag, **SECURITY_HEADERS}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    ctype = content_type(rel)
    charset = "utf-8" if ctype.startswith("text/") or ctype in ("application/json", "image/svg+xml") else None
    return web.Response(body=asset.body, content_type=ctype, charset=charset, headers=headers)


def handlers(assets: Assets) -> tuple:
    async def index(request: web.Request) -> web.Response:
        asset = assets.load("index.html")
        if asset is None:
            return _not_found()
        html = asset.body.decode("utf-8").replace(VERSION_PLACEHOLDER, assets.version())
        headers = {"Cache-Control": "no-cache", **SECURITY_HEADERS}
        return web.Response(text=html, content_type="text/html", charset="utf-8", headers=headers)

    async def static(request: web.Request) -> web.Response:
        rel = request.match_info["path"]
        asset = assets.load(rel)
        if asset is None:
            return _not_found()
        current = request.match_info["version"] == assets.version()
        return file_response(request, asset, rel, IMMUTABLE if current else "no-cache")

    async def favicon(request: web.Request) -> web.Response:
        asset = assets.load("favicon.svg")
        if asset is None:
            return _not_found()
        return file_response(request, asset, "favicon.svg", "public, max-age=86400")

    return index, static, favicon
