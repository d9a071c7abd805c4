"""/api/definitions and /api/definitions/{vhost}: export (GET) and import (POST, JSON body or the UI's
multipart upload), all through the operations layer."""

from __future__ import annotations

import json

from aiohttp import web

from ...ops.errors import BadRequest
from .app import no_content, ops, path, require_admin

routes_table = web.RouteTableDef()


def _download(request: web.Request, doc: dict) -> web.Response:
    headers = {}
    filename = request.query.get("download")
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return web.json_response(doc, headers=headers)


async def _document(request: web.Request) -> object:
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        field = form.get("file")
        raw = field.file.read() if hasattr(field, "file") else (field or "")
    else:
        raw = await request.read()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"not_json: {exc}") from None


@routes_table.get("/api/definitions")
async def export_all(request: web.Request) -> web.Response:
    require_admin(request)
    return _download(request, ops(request).export_definitions())


@routes_table.post("/api/definitions")
async def import_all(request: web.Request) -> web.Response:
    require_admin(request)
    ops(request).import_definitions(await _document(request))
    return no_content()


@routes_table.get("/api/definitions/{vhost}")
async def export_vhost(request: web.Request) -> web.Response:
    require_admin(request)
    vhost = path(request, "vhost")
    ops(request).vhost(vhost)
    return _download(request, ops(request).export_definitions(vhost))


@routes_table.post("/api/definitions/{vhost}")
async def import_vhost(request: web.Request) -> web.Response:
    require_admin(request)
    vhost = path(request, "vhost")
    ops(request).vhost(vhost)
    ops(request).import_definitions(await _document(request), vhost)
    return no_content()


def routes(router: web.UrlDispatcher) -> None:
    router.add_routes(routes_table)
