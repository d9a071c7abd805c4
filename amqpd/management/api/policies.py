"""/api/policies, /api/operator-policies, /api/parameters and /api/global-parameters."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...ops.errors import BadRequest, NotFound
from . import listing
from .app import (
    created,
    no_content,
    object_body,
    ops,
    path,
    require_admin,
    require_keys,
    require_policymaker,
    require_vhost,
    visible_vhosts,
)

routes_table = web.RouteTableDef()


def _table(vh: Any, operator: bool) -> dict[str, Any]:
    return vh.operator_policies if operator else vh.policies


def _list(request: web.Request, vhosts: list[str], operator: bool) -> web.Response:
    o = ops(request)
    items = [p.to_json() for v in vhosts for _, p in sorted(_table(o.vhosts[v], operator).items())]
    # rabbit_mgmt_wm_policies / _operator_policies sort by priority first; RabbitMQ pages neither
    return listing.respond(request, items, default_sort=("priority",), paged=False)


def _policy_routes(prefix: str, operator: bool) -> None:
    @routes_table.get(f"/api/{prefix}")
    async def list_all(request: web.Request) -> web.Response:
        return _list(request, visible_vhosts(request), operator)

    @routes_table.get(f"/api/{prefix}/{{vhost}}")
    async def list_vhost(request: web.Request) -> web.Response:
        vhost = path(request, "vhost")
        require_vhost(request, vhost)
        return _list(request, [vhost], operator)

    @routes_table.get(f"/api/{prefix}/{{vhost}}/{{name}}")
    async def get_one(request: web.Request) -> web.Response:
        vhost = path(request, "vhost")
        # one policy: a policymaker's (rabbit_mgmt_wm_policy), one operator policy: an administrator's
        if operator:
            require_admin(request)
        require_policymaker(request, vhost)
        p = _table(ops(request).vhosts[vhost], operator).get(path(request, "name"))
        if p is None:
            raise NotFound("policy")
        return listing.respond_one(request, p.to_json())

    @routes_table.put(f"/api/{prefix}/{{vhost}}/{{name}}")
    async def put_one(request: web.Request) -> web.Response:
        vhost, name = path(request, "vhost"), path(request, "name")
        if operator:
            require_admin(request)
        ops(request).existing_vhost(vhost)
        require_policymaker(request, vhost)
        doc = await object_body(request)
        require_keys(doc, "pattern", "definition")
        existed = name in _table(ops(request).vhosts[vhost], operator)
        try:
            ops(request).set_policy(vhost, name, doc["pattern"], doc["definition"], doc.get("priority", 0),
                                    doc.get("apply-to", "all"), operator)
        except BadRequest as exc:
            # rabbit_mgmt_wm_policy HTML-escapes its validation text (the operator-policy resource does not)
            if operator or not isinstance(exc.reason, str):
                raise
            raise BadRequest(exc.reason.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")) from None
        return created(existed)

    @routes_table.delete(f"/api/{prefix}/{{vhost}}/{{name}}")
    async def delete_one(request: web.Request) -> web.Response:
        vhost = path(request, "vhost")
        if operator:
            require_admin(request)
        require_policymaker(request, vhost)
        ops(request).clear_policy(vhost, path(request, "name"), operator)
        return no_content()


_policy_routes("policies", operator=False)
_policy_routes("operator-policies", operator=True)


# -- runtime parameters (amqpd implements the vhost-limits and operator_policy components) ----------
def _parameters(request: web.Request, component: str | None, vhosts: list[str]) -> list[dict[str, Any]]:
    o = ops(request)
    out = []
    for v in vhosts:
        vh = o.vhosts[v]
        if component in (None, "vhost-limits") and vh.limits:
            out.append({"value": dict(vh.limits), "vhost": v, "component": "vhost-limits", "name": "limits"})
        if component in (None, "operator_policy"):
            for _, p in sorted(vh.operator_policies.items()):
                j = p.to_json()
                out.append({"value": {"pattern": j["pattern"], "definition": j["definition"],
                                      "priority": j["priority"], "apply-to": j["apply-to"]},
                            "vhost": v, "component": "operator_policy", "name": p.name})
        if component == "policy":
            for _, p in sorted(vh.policies.items()):
                j = p.to_json()
                out.append({"value": {"pattern": j["pattern"], "definition": j["definition"],
                                      "priority": j["priority"], "apply-to": j["apply-to"]},
                            "vhost": v, "component": "policy", "name": p.name})
    return out


@routes_table.get("/api/parameters")
async def list_parameters(request: web.Request) -> web.Response:
    require_policymaker(request)
    return listing.respond(request, _parameters(request, None, visible_vhosts(request)), paged=False)


@routes_table.get("/api/parameters/{component}")
async def list_component(request: web.Request) -> web.Response:
    require_policymaker(request)
    return listing.respond(request, _parameters(request, path(request, "component"), visible_vhosts(request)),
                           paged=False)


@routes_table.get("/api/parameters/{component}/{vhost}")
async def list_component_vhost(request: web.Request) -> web.Response:
    vhost = path(request, "vhost")
    require_policymaker(request, vhost)
    return listing.respond(request, _parameters(request, path(request, "component"), [vhost]), paged=False)


@routes_table.get("/api/parameters/{component}/{vhost}/{name}")
async def get_parameter(request: web.Request) -> web.Response:
    vhost = path(request, "vhost")
    require_policymaker(request, vhost)
    name = path(request, "name")
    for p in _parameters(request, path(request, "component"), [vhost]):
        if p["name"] == name:
            return listing.respond_one(request, p)
    raise NotFound("parameter")


@routes_table.put("/api/parameters/{component}/{vhost}/{name}")
async def put_parameter(request: web.Request) -> web.Response:
    vhost, component, name = path(request, "vhost"), path(request, "component"), path(request, "name")
    require_policymaker(request, vhost)
    doc = await object_body(request)
    require_keys(doc, "value")
    existed = any(p["name"] == name for p in _parameters(request, component, [vhost]))
    ops(request).set_parameter(component, vhost, name, doc["value"])
    return created(existed)


@routes_table.delete("/api/parameters/{component}/{vhost}/{name}")
async def delete_parameter(request: web.Request) -> web.Response:
    vhost = path(request, "vhost")
    require_policymaker(request, vhost)
    component, name = path(request, "component"), path(request, "name")
    if not any(p["name"] == name for p in _parameters(request, component, [vhost])):
        raise NotFound("parameter")  # RabbitMQ: 404 for a parameter that is not there (vhost-limits too)
    ops(request).clear_parameter(component, vhost, name)
    return no_content()


# -- global parameters ------------------------------------------------------------------------------
@routes_table.get("/api/global-parameters")
async def list_global(request: web.Request) -> web.Response:
    require_policymaker(request)
    items = [{"name": n, "value": v} for n, v in sorted(ops(request).global_parameters.items())]
    return listing.respond(request, items, paged=False)


@routes_table.get("/api/global-parameters/{name}")
async def get_global(request: web.Request) -> web.Response:
    require_policymaker(request)
    name = path(request, "name")
    params = ops(request).global_parameters
    if name not in params:
        raise NotFound("global parameter")
    return listing.respond_one(request, {"value": params[name], "name": name})


@routes_table.put("/api/global-parameters/{name}")
async def put_global(request: web.Request) -> web.Response:
    require_policymaker(request)
    doc = await object_body(request)
    require_keys(doc, "value")
    name = path(request, "name")
    existed = name in ops(request).global_parameters
    ops(request).set_global_parameter(name, doc["value"])
    return created(existed)


@routes_table.delete("/api/global-parameters/{name}")
async def delete_global(request: web.Request) -> web.Response:
    require_policymaker(request)
    ops(request).clear_global_parameter(path(request, "name"))
    return no_content()


def routes(router: web.UrlDispatcher) -> None:
    router.add_routes(routes_table)
