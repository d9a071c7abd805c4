"""The scenario: an ordered list of CLI invocations (`Step`), each optionally preceded by AMQP setup actions
(actions.py) that run the same way on both brokers.

A step's argv is the command line after the tool's node selection (`rabbitmqctl -n rabbit@localhost` /
`python -m amqpd.ctl --config FILE`), global flags placed where a user would put them. `{tmp}` in argv is
the run's temporary directory; `{pid:USER}` is the pid (as that broker's list_connections prints it) of
the open scenario connection of USER. `down=True` runs it against a broker that is not running
(`-n nobody@localhost` / the --config of a broker that was never started).

`kind` picks the comparison (normalise.py): table (list commands, default for list_*), json (automatic
with --formatter json), text (the whole normalised stdout; default), and the per-command structure rules
status / environment / memory / listeners / export. `rows`: "all" compares every row, "own" only rows
naming a ctlcmp- object or a well-known default (guest, /, amq.*); the default is "all" inside a ctlcmp-
vhost and "own" elsewhere. `deviation`: the reason why a difference in this step is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .actions import (
    VHOST,
    VHOST2,
    Action,
    Bind,
    Close,
    Connect,
    Consume,
    Exchange,
    File,
    Publish,
    Pump,
    Queue,
    Sleep,
)

V, V2, NOHOST = VHOST, VHOST2, "ctlcmp-nohost"
QCOLS = ["name", "messages", "messages_ready", "messages_unacknowledged", "consumers", "durable",
         "auto_delete", "arguments", "type", "state"]


@dataclass
class Step:
    id: str
    tool: str                                  # "ctl" (rabbitmqctl) or "diag" (rabbitmq-diagnostics)
    argv: list[str]
    down: bool = False
    setup: list[Action] = field(default_factory=list)
    kind: str | None = None                    # None: table for list_*, json with --formatter json, else text
    rows: str | None = None                    # "all" / "own"; None: decided from -p
    stderr_lines: int = 4                      # how many leading error lines are compared
    within: float | None = None                # the step must finish in this many seconds
    deviation: str = ""                        # a documented, accepted difference
    doc: str = ""

    def describe(self) -> str:
        tool = "rabbitmqctl" if self.tool == "ctl" else "rabbitmq-diagnostics"
        return f"{tool}{' (down)' if self.down else ''} {' '.join(self.argv)}"

    @property
    def command(self) -> str:
        """The command word: the first argv item that is neither a global flag nor its value."""
        skip = False
        for arg in self.argv:
            if skip:
                skip = False
                continue
            if arg in ("-p", "--vhost", "--formatter", "-t", "--timeout"):
                skip = True
                continue
            if not arg.startswith("-"):
                return arg
        return ""


def ctl(id: str, *argv: str, **kw) -> Step:
    return Step(id, "ctl", list(argv), **kw)


def diag(id: str, *argv: str, **kw) -> Step:
    return Step(id, "diag", list(argv), **kw)


IMPORT_DEFS = {
    "rabbit_version": "3.10.8", "rabbitmq_version": "3.10.8", "product_name": "RabbitMQ",
    "product_version": "3.10.8",
    "users": [{"name": "ctlcmp-imported", "password_hash": "", "hashing_algorithm":
               "rabbit_password_hashing_sha256", "tags": ["monitoring"], "limits": {}}],
    "vhosts": [{"name": "ctlcmp-imported-vh", "limits": [], "metadata": {"description": "", "tags": []}}],
    "permissions": [{"user": "ctlcmp-imported", "vhost": V, "configure": "^ctlcmp-imp", "write": ".*", "read": ".*"}],
    "topic_permissions": [], "parameters": [], "global_parameters": [],
    "policies": [{"vhost": V, "name": "ctlcmp-imp-pol", "pattern": "^ctlcmp-imp", "apply-to": "queues",
                  "definition": {"max-length": 7}, "priority": 0}],
    "queues": [{"name": "ctlcmp-imp-q", "vhost": V, "durable": True, "auto_delete": False,
                "arguments": {"x-message-ttl": 60000}}],
    "exchanges": [{"name": "ctlcmp-imp-x", "vhost": V, "type": "fanout", "durable": True, "auto_delete": False,
                   "internal": False, "arguments": {}}],
    "bindings": [{"source": "ctlcmp-imp-x", "vhost": V, "destination": "ctlcmp-imp-q", "destination_type": "queue",
                  "routing_key": "", "arguments": {}}],
}

ACCESS = [
    ctl("add_vhost", "add_vhost", V),
    ctl("add_vhost.existing", "add_vhost", V),
    ctl("add_vhost.second", "add_vhost", V2),
    ctl("list_vhosts", "list_vhosts"),
    # "/" is left out: tracing on it is a shared broker's state, not the scenario's
    ctl("list_vhosts.columns", "list_vhosts", "name", "tracing", rows="prefix"),
    ctl("list_vhosts.q", "-q", "list_vhosts"),
    ctl("list_vhosts.noheaders", "list_vhosts", "--no-table-headers"),
    ctl("list_vhosts.json", "list_vhosts", "--formatter", "json"),
    ctl("list_vhosts.unknown_column", "list_vhosts", "name", "colour"),
    ctl("add_user", "add_user", "ctlcmp-app", "ctlcmp-app-pw"),
    ctl("add_user.existing", "add_user", "ctlcmp-app", "other-pw"),
    ctl("add_user.ops", "add_user", "ctlcmp-ops", "ctlcmp-ops-pw"),
    ctl("add_user.tmp", "add_user", "ctlcmp-tmp", "ctlcmp-tmp-pw"),
    ctl("add_user.missing_password", "add_user", "ctlcmp-nopw"),
    ctl("set_user_tags", "set_user_tags", "ctlcmp-ops", "administrator", "management"),
    ctl("set_user_tags.none", "set_user_tags", "ctlcmp-tmp"),
    ctl("set_user_tags.unknown_user", "set_user_tags", "ctlcmp-nouser", "management"),
    ctl("list_users", "list_users"),
    ctl("list_users.q", "-q", "list_users"),
    ctl("list_users.noheaders", "list_users", "--no-table-headers"),
    ctl("list_users.json", "list_users", "--formatter", "json"),
    ctl("authenticate_user", "authenticate_user", "ctlcmp-app", "ctlcmp-app-pw"),
    ctl("authenticate_user.bad_password", "authenticate_user", "ctlcmp-app", "wrong-pw"),
    ctl("authenticate_user.unknown_user", "authenticate_user", "ctlcmp-nouser", "x"),
    ctl("change_password", "change_password", "ctlcmp-tmp", "ctlcmp-tmp-pw2"),
    ctl("authenticate_user.changed", "authenticate_user", "ctlcmp-tmp", "ctlcmp-tmp-pw2"),
    ctl("authenticate_user.old", "authenticate_user", "ctlcmp-tmp", "ctlcmp-tmp-pw"),
    ctl("change_password.unknown_user", "change_password", "ctlcmp-nouser", "x"),
    ctl("clear_password", "clear_password", "ctlcmp-tmp"),
    ctl("authenticate_user.cleared", "authenticate_user", "ctlcmp-tmp", "ctlcmp-tmp-pw2"),
    ctl("clear_password.unknown_user", "clear_password", "ctlcmp-nouser"),
    ctl("set_permissions", "set_permissions", "-p", V, "ctlcmp-app", ".*", ".*", ".*"),
    ctl("set_permissions.ops", "set_permissions", "-p", V, "ctlcmp-ops", "^ctlcmp-.*", ".*", ""),
    ctl("set_permissions.ops_extra", "set_permissions", "-p", V2, "ctlcmp-ops", ".*", ".*", ".*"),
    ctl("set_permissions.unknown_vhost", "set_permissions", "-p", NOHOST, "ctlcmp-app", ".*", ".*", ".*"),
    ctl("set_permissions.unknown_user", "set_permissions", "-p", V, "ctlcmp-nouser", ".*", ".*", ".*"),
    ctl("set_permissions.missing_args", "set_permissions", "-p", V, "ctlcmp-app", ".*"),
    ctl("list_permissions", "list_permissions", "-p", V),
    ctl("list_permissions.q", "-q", "list_permissions", "-p", V),
    ctl("list_permissions.noheaders", "list_permissions", "-p", V, "--no-table-headers"),
    ctl("list_permissions.json", "list_permissions", "-p", V, "--formatter", "json"),
    ctl("list_permissions.unknown_vhost", "list_permissions", "-p", NOHOST),
    ctl("list_user_permissions", "list_user_permissions", "ctlcmp-ops"),
    ctl("list_user_permissions.q", "-q", "list_user_permissions", "ctlcmp-ops"),
    ctl("list_user_permissions.noheaders", "list_user_permissions", "--no-table-headers", "ctlcmp-ops"),
    ctl("list_user_permissions.json", "list_user_permissions", "ctlcmp-ops", "--formatter", "json"),
    ctl("list_user_permissions.unknown_user", "list_user_permissions", "ctlcmp-nouser"),
    ctl("set_topic_permissions", "set_topic_permissions", "-p", V, "ctlcmp-app", "amq.topic", "^ctlcmp-w",
        "^ctlcmp-r"),
    ctl("list_topic_permissions", "list_topic_permissions", "-p", V),
    ctl("list_topic_permissions.json", "list_topic_permissions", "-p", V, "--formatter", "json"),
    ctl("clear_permissions", "clear_permissions", "-p", V, "ctlcmp-ops"),
    ctl("clear_permissions.unknown_user", "clear_permissions", "-p", V, "ctlcmp-nouser"),
    ctl("list_permissions.after_clear", "list_permissions", "-p", V),
    ctl("set_user_limits", "set_user_limits", "ctlcmp-app", '{"max-connections": 10, "max-channels": 20}'),
    ctl("set_user_limits.bad_json", "set_user_limits", "ctlcmp-app", "{max-connections"),
    ctl("list_user_limits", "list_user_limits", "--user", "ctlcmp-app"),
    ctl("set_vhost_limits", "set_vhost_limits", "-p", V2, '{"max-queues": 5, "max-connections": 7}'),
    ctl("set_vhost_limits.unknown_vhost", "set_vhost_limits", "-p", NOHOST, '{"max-queues": 5}'),
    ctl("list_vhost_limits", "list_vhost_limits", "-p", V2),
]

TOPOLOGY = [
    ctl("list_queues", "list_queues", setup=[
        Queue("ctlcmp-q1"), Queue("ctlcmp-q2", durable=False, auto_delete=True),
        Queue("ctlcmp-qq", arguments={"x-queue-type": "quorum"}),
        Queue("ctlcmp-ql", arguments={"x-max-length": 10}), Exchange("ctlcmp-x"),
        Bind("ctlcmp-q1", "ctlcmp-x", "ctlcmp.#"), Bind("ctlcmp-ql", "ctlcmp-x", "ctlcmp.l"),
        Publish("ctlcmp-q1", 3), Publish("ctlcmp-ql", 5),
        Queue("ctlcmp-root-q", vhost="/", user="guest"), Publish("ctlcmp-root-q", 2, vhost="/", user="guest")]),
    ctl("list_queues.vhost", "list_queues", "-p", V),
    ctl("list_queues.columns", "list_queues", "-p", V, *QCOLS),
    ctl("list_queues.q", "-q", "list_queues", "-p", V, "name", "messages", "durable"),
    ctl("list_queues.noheaders", "list_queues", "-p", V, "--no-table-headers", "name", "messages"),
    ctl("list_queues.json", "list_queues", "-p", V, "--formatter", "json", *QCOLS),
    ctl("list_queues.json_default", "--formatter", "json", "list_queues", "-p", V),
    ctl("list_queues.unknown_column", "list_queues", "name", "colour"),
    ctl("list_queues.unknown_vhost", "list_queues", "-p", NOHOST),
    ctl("list_exchanges", "list_exchanges", "-p", V),
    ctl("list_exchanges.columns", "list_exchanges", "-p", V, "name", "type", "durable", "auto_delete", "internal",
        "arguments"),
    ctl("list_exchanges.q", "-q", "list_exchanges", "-p", V),
    ctl("list_exchanges.noheaders", "list_exchanges", "-p", V, "--no-table-headers", "name", "type"),
    ctl("list_exchanges.json", "list_exchanges", "-p", V, "--formatter", "json"),
    ctl("list_exchanges.root", "list_exchanges"),
    ctl("list_exchanges.unknown_column", "list_exchanges", "-p", V, "colour"),
    ctl("list_bindings", "list_bindings", "-p", V),
    ctl("list_bindings.columns", "list_bindings", "-p", V, "source_name", "destination_name", "routing_key"),
    ctl("list_bindings.q", "-q", "list_bindings", "-p", V),
    ctl("list_bindings.noheaders", "list_bindings", "-p", V, "--no-table-headers"),
    ctl("list_bindings.json", "list_bindings", "-p", V, "--formatter", "json"),
    ctl("list_bindings.unknown_column", "list_bindings", "-p", V, "colour"),
]

RUNTIME = [
    ctl("list_queues.consumer", "list_queues", "-p", V, *QCOLS, setup=[
        Connect("c1"), Consume("c1", "ctlcmp-q1", prefetch=2), Connect("c2", user="ctlcmp-ops", vhost=V2),
        Sleep(0.5)]),
    ctl("list_consumers", "list_consumers", "-p", V),
    ctl("list_consumers.columns", "list_consumers", "-p", V, "queue_name", "consumer_tag", "ack_required",
        "prefetch_count", "active", "arguments"),
    ctl("list_consumers.q", "-q", "list_consumers", "-p", V),
    ctl("list_consumers.noheaders", "list_consumers", "-p", V, "--no-table-headers"),
    ctl("list_consumers.json", "list_consumers", "-p", V, "--formatter", "json"),
    ctl("list_consumers.unknown_column", "list_consumers", "-p", V, "colour"),
    ctl("list_connections", "list_connections"),
    ctl("list_connections.columns", "list_connections", "name", "user", "vhost", "channels", "state", "protocol",
        "auth_mechanism", "ssl", "peer_host"),
    ctl("list_connections.q", "-q", "list_connections", "user", "vhost", "channels"),
    ctl("list_connections.noheaders", "list_connections", "--no-table-headers", "user", "vhost"),
    ctl("list_connections.json", "list_connections", "--formatter", "json", "user", "vhost", "channels", "state"),
    ctl("list_connections.unknown_column", "list_connections", "colour"),
    ctl("list_channels", "list_channels"),
    ctl("list_channels.columns", "list_channels", "user", "vhost", "number", "prefetch_count", "consumer_count",
        "messages_unacknowledged", "confirm", "transactional"),
    ctl("list_channels.q", "-q", "list_channels", "user", "vhost", "consumer_count"),
    ctl("list_channels.noheaders", "list_channels", "--no-table-headers", "user", "consumer_count"),
    ctl("list_channels.json", "list_channels", "--formatter", "json", "user", "vhost", "consumer_count"),
    ctl("list_channels.unknown_column", "list_channels", "colour"),
    ctl("close_connection", "close_connection", "{pid:ctlcmp-ops}", "ctlcmp closing"),
    ctl("close_connection.bad_pid", "close_connection", "not-a-pid", "ctlcmp closing"),
    ctl("list_connections.after_close", "list_connections", "user", "vhost", setup=[Pump(1.0)]),
    ctl("close_all_connections", "close_all_connections", "-p", V, "ctlcmp bye"),
    ctl("list_connections.after_close_all", "list_connections", "user", "vhost", setup=[Pump(1.0)]),
    ctl("list_consumers.after_close_all", "list_consumers", "-p", V),
    ctl("purge_queue", "purge_queue", "-p", V, "ctlcmp-ql", setup=[Close("c1"), Close("c2")]),
    ctl("purge_queue.unknown", "purge_queue", "-p", V, "ctlcmp-nope"),
    ctl("list_queues.after_purge", "list_queues", "-p", V, "name", "messages"),
    ctl("delete_queue", "delete_queue", "-p", V, "ctlcmp-q2"),
    ctl("delete_queue.root", "delete_queue", "ctlcmp-root-q"),
    ctl("delete_queue.unknown", "delete_queue", "-p", V, "ctlcmp-nope"),
    ctl("list_queues.after_delete", "list_queues", "-p", V, "name"),
]

POLICIES = [
    ctl("set_policy", "set_policy", "-p", V, "ctlcmp-pol", "^ctlcmp-q", '{"max-length": 100}', "--apply-to",
        "queues", "--priority", "1"),
    ctl("set_policy.bad_definition", "set_policy", "-p", V, "ctlcmp-bad", "^x", '{"max-length": "many"}'),
    ctl("set_policy.bad_json", "set_policy", "-p", V, "ctlcmp-bad", "^x", "{max-length"),
    ctl("set_policy.unknown_key", "set_policy", "-p", V, "ctlcmp-bad", "^x", '{"colour": 1}'),
    ctl("list_policies", "list_policies", "-p", V),
    ctl("list_policies.q", "-q", "list_policies", "-p", V),
    ctl("list_policies.noheaders", "list_policies", "-p", V, "--no-table-headers"),
    ctl("list_policies.json", "list_policies", "-p", V, "--formatter", "json"),
    ctl("list_policies.unknown_vhost", "list_policies", "-p", NOHOST),
    ctl("list_queues.policy", "list_queues", "-p", V, "name", "policy"),
    ctl("clear_policy", "clear_policy", "-p", V, "ctlcmp-pol"),
    ctl("clear_policy.missing", "clear_policy", "-p", V, "ctlcmp-pol"),
    ctl("set_operator_policy", "set_operator_policy", "-p", V, "ctlcmp-op", "^ctlcmp-", '{"max-length": 50}',
        "--apply-to", "queues"),
    ctl("set_operator_policy.bad_key", "set_operator_policy", "-p", V, "ctlcmp-op2", "^x", '{"ha-mode": "all"}'),
    ctl("list_operator_policies", "list_operator_policies", "-p", V),
    ctl("list_operator_policies.q", "-q", "list_operator_policies", "-p", V),
    ctl("list_operator_policies.noheaders", "list_operator_policies", "-p", V, "--no-table-headers"),
    ctl("list_operator_policies.json", "list_operator_policies", "-p", V, "--formatter", "json"),
    ctl("clear_operator_policy", "clear_operator_policy", "-p", V, "ctlcmp-op"),
    ctl("trace_on", "trace_on", "-p", V),
    ctl("list_vhosts.tracing", "list_vhosts", "name", "tracing", rows="prefix"),
    ctl("trace_off", "trace_off", "-p", V),
    ctl("trace_on.unknown_vhost", "trace_on", "-p", NOHOST),
]

DEFINITIONS = [
    ctl("export_definitions", "export_definitions", "{tmp}/export.json", kind="export"),
    ctl("export_definitions.stdout", "export_definitions", "-", kind="export"),
    ctl("export_definitions.stdout_q", "-q", "export_definitions", "-", kind="export"),
    ctl("import_definitions", "import_definitions", "{tmp}/import.json", setup=[File("import.json", IMPORT_DEFS)]),
    ctl("list_queues.imported", "list_queues", "-p", V, "name", "durable", "arguments"),
    ctl("list_users.imported", "list_users"),
    ctl("list_policies.imported", "list_policies", "-p", V),
    ctl("import_definitions.missing_file", "import_definitions", "{tmp}/missing.json"),
    ctl("import_definitions.bad_json", "import_definitions", "{tmp}/bad.json",
        setup=[File("bad.json", "{not json")]),
]

NODE = [
    ctl("status", "status", kind="status",
        deviation="amqpd names itself where rabbitmqctl says RabbitMQ (docs/cli.md); runtime lines are Python's; amqpd speaks AMQP 0-9-1 only; it does not claim AMQP 1.0 (docs/cli.md)"),
    ctl("environment", "environment", kind="environment"),
    ctl("await_startup", "await_startup"),
    diag("ping", "ping", deviation="amqpd has no epmd: ping checks that the broker answers on its control socket (docs/cli.md)"),
    diag("ping.q", "-q", "ping"),
    diag("check_running", "check_running", deviation="amqpd names itself where rabbitmqctl says RabbitMQ (docs/cli.md)"),
    diag("check_port_connectivity", "check_port_connectivity"),
    diag("check_local_alarms", "check_local_alarms"),
    diag("check_virtual_hosts", "check_virtual_hosts"),
    diag("listeners", "listeners", kind="listeners", deviation="amqpd speaks AMQP 0-9-1 only; it does not claim AMQP 1.0 (docs/cli.md)"),
    diag("alarms", "alarms"),
    diag("memory_breakdown", "memory_breakdown", kind="memory"),
    ctl("unknown_command", "frobnicate"),
    diag("unknown_command.diag", "frobnicate"),
    ctl("down.list_queues", "list_queues", down=True, stderr_lines=1),
    diag("down.ping.q", "-q", "ping", down=True, stderr_lines=2, within=2.0,
         doc="RabbitMQ: exit 69 in ~0.3-0.6 s"),
    diag("down.ping", "ping", down=True, stderr_lines=2, deviation="amqpd has no epmd: ping checks that the broker answers on its control socket (docs/cli.md)"),
    ctl("down.status", "status", down=True, stderr_lines=1),
    ctl("down.await_startup", "await_startup", "--timeout", "1", down=True, stderr_lines=1),
]

CLEANUP = [
    ctl("delete_user", "delete_user", "ctlcmp-tmp"),
    ctl("delete_user.unknown", "delete_user", "ctlcmp-tmp"),
    ctl("delete_vhost", "delete_vhost", V2),
    ctl("delete_vhost.unknown", "delete_vhost", NOHOST),
    ctl("list_vhosts.end", "list_vhosts"),
    ctl("list_users.end", "list_users"),
]

STEPS: list[Step] = [*ACCESS, *TOPOLOGY, *RUNTIME, *POLICIES, *DEFINITIONS, *NODE, *CLEANUP]

_ids = [s.id for s in STEPS]
assert len(_ids) == len(set(_ids)), sorted({i for i in _ids if _ids.count(i) > 1})
