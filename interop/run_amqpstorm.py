#!/usr/bin/env python3
"""AMQPStorm's own management-API tests (amqpstorm/tests/functional/management from its PyPI sdist)
against amqpd, or against $AMQP_URL with its management API at --http-url / $AMQP_HTTP_URL.

The suite reads its broker from AMQP_HOST / AMQP_USERNAME / AMQP_PASSWORD / AMQP_URI / AMQP_HTTP_URL
(amqpstorm/tests/__init__.py) and opens its AMQP connections to port 5672 of AMQP_HOST, so the private
amqpd listens on 5672 of an address of its own (127.0.0.x) next to a RabbitMQ on 127.0.0.1:5672. The
tests expect their user to be an administrator (its first tag) with full permissions on "/", which
guest is on a fresh data dir. They create and delete objects named after themselves (queues and vhosts
such as test_api_queue_list_pagination, user travis_ci) and leave the exchange
test_queue_declare_passive_exists behind: run them against a RabbitMQ of your own.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.broker import BrokerEndpoint  # noqa: E402
from harness.runner import Suite, main  # noqa: E402


def storm_env(endpoint: BrokerEndpoint, http_url: str) -> dict[str, str]:
    return {"AMQP_BROKER": "rabbitmq", "AMQP_HOST": endpoint.host, "AMQP_USERNAME": endpoint.user,
            "AMQP_PASSWORD": endpoint.password, "AMQP_URI": endpoint.url, "AMQP_HTTP_URL": http_url}


SUITE = Suite(
    name="amqpstorm",
    version="3.1.4",
    project="amqpstorm",
    sha256="8c4c81430b3e3f06c88474a8ed883b48a62068f14490e339d6e0fc3329f030d3",
    must_contain=["amqpstorm/tests/__init__.py", "amqpstorm/tests/functional/utility.py",
                  "amqpstorm/tests/functional/management/test_api.py",
                  "amqpstorm/tests/functional/management/test_queue.py"],
    broker_env=storm_env,
    amqp_port=5672,
    targets=["amqpstorm/tests/functional/management"],
    check_versions={"pamqp": "4.0.1", "requests": "2.34.2"},
    # The whole suite takes a few seconds on amqpd.
    fast=["amqpstorm/tests/functional/management"],
    timeout=60,
)

if __name__ == "__main__":
    sys.exit(main(SUITE, sys.argv[1:]))
