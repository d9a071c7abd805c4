"""The operations layer: every change of broker state that is not a message.

Vhosts, users, permissions, limits, policies, parameters, queues, exchanges, bindings and definitions
are changed here and nowhere else: each operation validates, applies, persists and logs. The AMQP
handlers, the definitions loader and (later) the HTTP API and CLI translate their requests into these
calls and the errors (ops/errors.py, or AMQP ChannelError/ConnectionError) into their own answers.
Recovery at boot (recovery.py) rebuilds the same state from the store's records.
"""

from __future__ import annotations

import time
from typing import Any

from ..auth.permissions import AccessControl
from ..auth.users import User
from ..delays import Delays
from ..log import get_logger
from ..stats import NodeStats
from ..vhost import VHost
from .definitions import DefinitionOps
from .errors import BadRequest, NotFound, OpError
from .messages import MessageOps
from .parameters import ParameterOps
from .persist import Records
from .recovery import recover, recover_state
from .topology import TopologyOps
from .users import UserOps
from .vhosts import VhostOps

__all__ = ["Operations", "OpError", "BadRequest", "NotFound"]


class Operations(VhostOps, UserOps, ParameterOps, TopologyOps, DefinitionOps, MessageOps):
    def __init__(self, config: Any, store: Any, connections: set[Any] | None = None) -> None:
        self.config = config
        self.store = store
        self.connections: set[Any] = connections if connections is not None else set()
        self.log = get_logger(component="ops")
        self.records = Records(store)
        self.vhosts: dict[str, VHost] = {}
        self.users: dict[str, User] = {}
        self.access = AccessControl()
        self.global_parameters: dict[str, Any] = {}
        self.stats = NodeStats()  # node-wide counters (amqpd/stats/); deleted vhosts leave theirs here
        self.delays = Delays(store, self.vhosts, get_logger(component="delays"))  # x-delayed-message

    def boot(self) -> dict[str, Any]:
        """Rebuild everything from the store; on a first boot create the defaults from the config (as
        RabbitMQ: later changes of default_user and friends do not touch an existing data dir), unless
        definitions are loaded at boot, which then define the users and vhosts. Then load_definitions."""
        started = time.monotonic()
        first_boot = not recover_state(self)
        cfg = self.config
        definitions = getattr(cfg, "load_definitions", None)
        if first_boot and definitions is None:
            self.create_defaults()
        stats = recover(self, cfg.queue_index_threshold) if not first_boot else {"queues": 0, "messages": 0}
        if getattr(self.store, "loop", None) is not None:
            stats.update(self.delays.recover())
        if definitions is not None:
            stats["definitions"] = self.import_definitions_path(definitions)
        stats["first_boot"] = first_boot
        stats["seconds"] = round(time.monotonic() - started, 3)
        return stats

    def create_defaults(self) -> None:
        cfg = self.config
        self.add_vhost(cfg.default_vhost, "Default virtual host")
        tags = list(getattr(cfg, "default_user_tags", ("administrator",)))
        self.put_user(cfg.default_user, password=cfg.default_pass, tags=tags)
        configure, write, read = getattr(cfg, "default_permissions", (".*", ".*", ".*"))
        self.set_permissions(cfg.default_user, cfg.default_vhost, configure, write, read)
