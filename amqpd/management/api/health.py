"""RabbitMQ 3.10's health checks (/api/health/checks/...) and /api/aliveness-test/{vhost}.

Answers as the rabbit_mgmt_wm_health_check_* resources: 200 {"status":"ok", ...} or 503
{"status":"failed","reason":..., <details>}.
"""

from __future__ import annotations

import datetime
from typing import Any

from aiohttp import web
from pamqp import commands

from ...errors import AMQPError, ReplyCode
from ...message import Message
from ...ops.errors import NotFound
from ...protocol.properties import encode_header, parse_header
from ...router import route
from .app import BROKER, NotAuthorised, error, is_admin, json_response, node_name, ops, path

routes_table = web.RouteTableDef()
ALIVENESS_QUEUE = "aliveness-test"


def ok(**extra: Any) -> web.Response:
    return json_response({"status": "ok", **extra})


def failed(reason: str, **details: Any) -> web.Response:
    return json_response({"status": "failed", "reason": reason, **details}, status=503)


def listeners(broker: Any) -> list[dict[str, Any]]:
    """The node's active listeners, as rabbit_networking:active_listeners (AMQP, AMQP/TLS, HTTP(S), and
    Prometheus's ``http/prometheus`` when it runs)."""
    node = node_name()
    out = []
    from ...tls import TLSListener

    for srv in broker.servers:
        proto = "amqp/ssl" if isinstance(srv, TLSListener) else "amqp"
        for sock in srv.sockets:
            host, port = sock.getsockname()[:2]
            out.append({"node": node, "protocol": proto, "ip_address": host, "port": port})
    mgmt = broker.management
    for host, port, https in getattr(mgmt, "addresses", None) or []:
        out.append({"node": node, "protocol": "https" if https else "http", "ip_address": host, "port": port})
    for host, port in getattr(getattr(broker, "prometheus", None), "addresses", None) or []:
        out.append({"node": node, "protocol": "http/prometheus", "ip_address": host, "port": port})
    return out


def alarms(broker: Any) -> list[dict[str, Any]]:
    found = [{"node": node_name(), "resource": "memory"}] if broker.memory_alarm else []
    return found + ([{"node": node_name(), "resource": "disk"}] if broker.disk_alarm else [])


@routes_table.get("/api/health/checks/alarms")
async def check_alarms(request: web.Request) -> web.Response:
    found = alarms(request.app[BROKER])
    return failed("There are alarms in effect in the cluster", alarms=found) if found else ok()


@routes_table.get("/api/health/checks/local-alarms")
async def check_local_alarms(request: web.Request) -> web.Response:
    found = alarms(request.app[BROKER])
    return failed("There are alarms in effect on the node", alarms=found) if found else ok()


# The pre-3.8 health check that 3.10 still serves (rabbit_mgmt_wm_healthchecks, rabbit_health_check:node):
# clients such as AMQPStorm's management API call it, with or without the node name.
@routes_table.get("/api/healthchecks/node")
@routes_table.get("/api/healthchecks/node/")
@routes_table.get("/api/healthchecks/node/{node}")
async def legacy_node_check(request: web.Request) -> web.Response:
    node = node_name()
    if request.match_info.get("node", node) != node:
        raise NotFound(request.match_info["node"])
    found = alarms(request.app[BROKER])
    if found:
        terms = ",".join(f"{{resource_limit,{a['resource']},'{a['node']}'}}" for a in found)
        return failed(f"resource alarm(s) in effect:[{terms}]")
    return ok()


@routes_table.get("/api/health/checks/port-listener/{port}")
async def check_port_listener(request: web.Request) -> web.Response:
    raw = path(request, "port")
    try:
        port = int(raw) if raw.lstrip("-").isdigit() else int("x")
    except ValueError:
        return error(400, "bad_request", "Invalid port")
    ports = [entry["port"] for entry in listeners(request.app[BROKER])]
    if port not in ports:
        return failed("No active listener", missing=port, ports=ports)
    return ok(port=port)


PROTOCOL_ALIASES = {
    "amqp091": "amqp", "amqp0.9.1": "amqp", "amqp0-9-1": "amqp", "amqp0_9_1": "amqp", "amqp10": "amqp",
    "amqp1.0": "amqp", "amqp1-0": "amqp", "amqp1_0": "amqp", "amqps": "amqp/ssl",
    "http1": "http", "http1.1": "http", "http_api": "http", "management": "http", "management_ui": "http",
    "ui": "http", "cli": "clustering", "distribution": "clustering",
}


@routes_table.get("/api/health/checks/protocol-listener/{protocol}")
async def check_protocol_listener(request: web.Request) -> web.Response:
    raw = path(request, "protocol").lower()
    protocol = PROTOCOL_ALIASES.get(raw, raw)
    protocols = [entry["protocol"] for entry in listeners(request.app[BROKER])]
    if protocol not in protocols:
        return failed("No active listener", missing=protocol, protocols=protocols)
    return ok(protocol=protocol)


@routes_table.get("/api/health/checks/virtual-hosts")
async def check_virtual_hosts(request: web.Request) -> web.Response:
    return ok()  # amqpd's vhosts live in the broker's process: none can be down on its own


@routes_table.get("/api/health/checks/node-is-quorum-critical")
@routes_table.get("/api/health/checks/node-is-mirror-sync-critical")
async def check_single_node(request: web.Request) -> web.Response:
    return ok(reason="single node cluster")


UNIT_SECONDS = {"days": 86400, "weeks": 604800, "months": 2628000, "years": 31536000}


def _not_after(certfile: Any) -> datetime.datetime | None:
    """The earliest notAfter of the certificates in a PEM file (None: no file or unreadable)."""
    if certfile is None:
        return None
    try:
        text = open(certfile, encoding="ascii", errors="replace").read()
    except OSError:
        return None
    ends = []
    marker = "-----END CERTIFICATE-----"
    for block in text.split(marker)[:-1]:
        begin = block.find("-----BEGIN CERTIFICATE-----")
        if begin < 0:
            continue
        try:
            from cryptography import x509

            cert = x509.load_pem_x509_certificate((block[begin:] + marker).encode())
            end = getattr(cert, "not_valid_after_utc", None)
            ends.append(end if end is not None else cert.not_valid_after.replace(tzinfo=datetime.UTC))
        except Exception:  # noqa: BLE001 - unreadable certificates are not "expiring"
            continue
    return min(ends) if ends else None


@routes_table.get("/api/health/checks/certificate-expiration/{within}/{unit}")
async def check_certificate_expiration(request: web.Request) -> web.Response:
    within, unit = path(request, "within"), path(request, "unit").lower()
    if not within.lstrip("+-").isdigit():
        return error(400, "bad_request", "Invalid expiration value.")
    if unit not in UNIT_SECONDS:
        return error(400, "bad_request", "Time unit not recognised. Supported units: days, weeks, months, years.")
    deadline = datetime.datetime.now(datetime.UTC) + datetime.timedelta(
        seconds=int(within) * UNIT_SECONDS[unit])
    broker = request.app[BROKER]
    cfg = broker.config
    expiring = []
    for entry in listeners(broker):
        opts = cfg.ssl_options if entry["protocol"] == "amqp/ssl" else (
            cfg.management_ssl if entry["protocol"] == "https" else None)
        if opts is None:
            continue
        found: dict[str, Any] = {}
        for key in ("certfile", "cacertfile"):
            end = _not_after(getattr(opts, key, None))
            if end is not None and end <= deadline:
                found[key] = str(getattr(opts, key))
                found[f"{key}_expires_on"] = end.strftime("%Y-%m-%d %H:%M:%S")
        if found:
            expiring.append({"node": entry["node"], "protocol": entry["protocol"], "interface": entry["ip_address"],
                             "port": entry["port"], **found})
    return failed("Certificates expiring", expired=expiring) if expiring else ok()


# -- aliveness-test -----------------------------------------------------------------------------------
def _publish(vh: Any, routing_key: str, body: bytes) -> None:
    """basic.publish to the vhost's default exchange, as a client's would be routed."""
    header = encode_header(len(body), commands.Basic.Properties())
    props = parse_header(header)[3]
    msg = Message("", routing_key, header, body, props)
    for q in route(vh.exchanges, vh.exchanges[""], routing_key, msg):
        q.enqueue(msg)


@routes_table.get("/api/aliveness-test/{vhost}")
async def aliveness_test(request: web.Request) -> web.Response:
    o = ops(request)
    name = path(request, "vhost")
    vh = o.vhosts.get(name)
    if vh is None:
        raise NotFound(name)
    user = request["user"]
    if not o.access.has_access(user.name, name):
        # is_authorized_vhost refuses other users; an administrator then fails to open the channel
        raise NotAuthorised("Access refused." if is_admin(user) else "User not authorised to access virtual host")
    access = o.access.for_connection(user.name, name)
    try:
        q = o.declare_queue(vh, ALIVENESS_QUEUE, durable=False, access=access)
        access.check_publish("")
        _publish(vh, ALIVENESS_QUEUE, b"test_message")
        q = o.lookup_queue(vh, ALIVENESS_QUEUE, "read", access=access)
        entry = q.take()
    except AMQPError as exc:
        # rabbit_mgmt_util:with_channel: 404 / 401 / 400 "<code> <text>"
        if exc.reply_code == ReplyCode.NOT_FOUND:
            return error(404, "not_found", exc.reply_text)
        if exc.reply_code == ReplyCode.ACCESS_REFUSED:
            return error(401, "not_authorised", exc.reply_text)
        return error(400, "bad_request", f"{exc.reply_code} {exc.reply_text}")
    if entry is None:
        return failed("aliveness-test queue is empty")
    q.delivered(entry, True)  # basic.get no_ack: gone
    return ok()


def routes(router: web.UrlDispatcher) -> None:
    router.add_routes(routes_table)

