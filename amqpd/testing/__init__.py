"""Test support: a real amqpd (or an external RabbitMQ) for a test suite, and a vhost + user per test.

The pytest plugin is ``amqpd.testing.plugin`` (entry point ``amqpd``); the pieces it is made of are usable
without pytest (bench/vhost_fixture_cost.py drives them directly). See docs/testing.md.
"""

from .broker import BrokerStartError, RunningBroker, external_broker, start_amqpd
from .management import (
    IsolatedVhost,
    ManagementClient,
    ManagementError,
    amqp_url_for,
    create_isolated_vhost,
    delete_isolated_vhost,
)

__all__ = ["BrokerStartError", "IsolatedVhost", "ManagementClient", "ManagementError", "RunningBroker",
           "amqp_url_for", "create_isolated_vhost", "delete_isolated_vhost", "external_broker", "start_amqpd"]
