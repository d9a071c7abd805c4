"""`amqpd` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys

from .config import ConfigError, load_config
from .log import get_logger, setup


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="amqpd", description="A RabbitMQ-compatible AMQP 0-9-1 broker.")
    p.add_argument("--config", metavar="FILE", help="configuration file (rabbitmq.conf syntax)")
    p.add_argument("--bind", metavar="ADDR", help="listen address (default 127.0.0.1)")
    p.add_argument("--port", type=int, metavar="N", help="listen port (default 5672)")
    p.add_argument("--data-dir", metavar="DIR", help="data directory")
    p.add_argument("--log-level", metavar="L", help="debug|info|warning|error|critical|none")
    p.add_argument("--log-format", metavar="F", help="plaintext|json")
    p.add_argument("--management-port", type=int, metavar="N",
                   help="HTTP API port (default 15672; 0 switches the API off)")
    p.add_argument("--prometheus-port", type=int, metavar="N",
                   help="Prometheus metrics port (default 15692; 0 switches them off)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    try:
        config = load_config(ns.config, overrides={"bind": ns.bind, "port": ns.port, "data_dir": ns.data_dir,
                                                   "log_level": ns.log_level, "log_format": ns.log_format,
                                                   "management_port": ns.management_port,
                                                   "prometheus_port": ns.prometheus_port})
    except ConfigError as exc:
        print(f"amqpd: configuration error: {exc}", file=sys.stderr)
        return 2
    setup(config.log_level, config.log_format)
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        uvloop = None
    from .server import serve

    try:
        if uvloop is not None:
            return uvloop.run(serve(config))
        return asyncio.run(serve(config))
    except OSError as exc:
        get_logger().error("cannot start", error=str(exc))
        return 1
