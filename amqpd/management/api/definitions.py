"""/api/definitions and /api/definitions/{vhost}: export (GET) and import (POST, JSON body or the UI's
multipart upload), all through the operations layer.

As RabbitMQ 3.10 answers: a body that is not a JSON object is ``400 failed_to_parse_json``, an empty
body imports nothing (204), an import into a missing vhost is ``404 not_found vhost_not_found``. A vhost
created by an import through the API gives the importing user full permissions on it
(rabbit_vhost:put_vhost grants them to the acting user), unless the document sets that user's
permissions there itself; exporting a missing vhost is ``400 bad_request vhost_not_found``. A download
names its file as RabbitMQ does: ``Content-Disposition: attachment; filename=<name>``, unquoted.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...ops.errors import BadRequest, Missing
from .app import json_response, no_content, ops, parse_json, path, require_admin

routes_table = web.RouteTableDef()
FULL = ".*"


def _download(request: web.Request, doc: dict) -> web.Response:
    headers = {}
    filename = request.query.get("download")
    if filename:
        headers["Content-Disposition"] = f"attachment; filename={filename}"
    return json_response(doc, headers=headers)


async def _document(request: web.Request) -> dict[str, Any]:
    if request.content_type.startswith("multipart/"):
        form = await request.post()
        field = form.get("file")
        raw = field.file.read() if hasattr(field, "file") else (field or "")
    else:
        raw = await request.read()
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not raw.strip():
        return {}
    try:
        doc = parse_json(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("failed_to_parse_json") from None
    if not isinstance(doc, dict):
        raise BadRequest("failed_to_parse_json")
    return doc


def _explicit_permissions(doc: dict[str, Any], user: str) -> set[Any]:
    perms = doc.get("permissions")
    if not isinstance(perms, list):
        return set()
    return {p.get("vhost") for p in perms if isinstance(p, dict) and p.get("user") == user}


def _grant_new_vhosts(request: web.Request, doc: dict[str, Any], before: set[str]) -> None:
    o = ops(request)
    user = request["user"].name
    if user not in o.users:
        return
    explicit = _explicit_permissions(doc, user)
    for name in sorted(set(o.vhosts) - before):
        if name not in explicit and (user, name) not in o.access.permissions:
            o.set_permissions(user, name, FULL, FULL, FULL)


@routes_table.get("/api/definitions")
async def export_all(request: web.Request) -> web.Response:
    require_admin(request)
    return _download(request, ops(request).export_definitions())


@routes_table.post("/api/definitions")
async def import_all(request: web.Request) -> web.Response:
    require_admin(request)
    doc = await _document(request)
    before = set(ops(request).vhosts)
    ops(request).import_definitions(doc)
    _grant_new_vhosts(request, doc, before)
    return no_content()


@routes_table.get("/api/definitions/{vhost}")
async def export_vhost(request: web.Request) -> web.Response:
    require_admin(request)
    vhost = path(request, "vhost")
    if vhost not in ops(request).vhosts:
        raise BadRequest("vhost_not_found")
    return _download(request, ops(request).export_definitions(vhost))


@routes_table.post("/api/definitions/{vhost}")
async def import_vhost(request: web.Request) -> web.Response:
    require_admin(request)
    vhost = path(request, "vhost")
    if vhost not in ops(request).vhosts:
        raise Missing("vhost_not_found")
    ops(request).import_definitions(await _document(request), vhost)
    return no_content()


def routes(router: web.UrlDispatcher) -> None:
    router.add_routes(routes_table)
