"""Direct, fanout and default exchanges, and the type registry."""

from __future__ import annotations

import pytest

from amqpd.exchanges import REGISTRY, Binding, Exchange, exchange_class
from amqpd.exchanges.default import DefaultExchange
from amqpd.exchanges.direct import DirectExchange
from amqpd.exchanges.fanout import FanoutExchange
from amqpd.exchanges.headers import HeadersExchange
from amqpd.exchanges.topic import TopicExchange


class Dest:
    is_exchange = False

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Dest({self.name!r})"

    def __eq__(self, other):  # equal by name, to prove the exchanges work by identity
        return isinstance(other, Dest) and other.name == self.name

    __hash__ = object.__hash__


def no_headers():
    raise AssertionError("headers are not needed here")


def ids(dests) -> list[int]:
    return [id(d) for d in dests]


# -- registry -------------------------------------------------------------------------------------------
def test_registry():
    from amqpd.exchanges.consistent_hash import ConsistentHashExchange
    from amqpd.exchanges.dedup import DedupExchange
    from amqpd.exchanges.delayed import DelayedMessageExchange

    assert REGISTRY == {"direct": DirectExchange, "fanout": FanoutExchange, "topic": TopicExchange,
                        "headers": HeadersExchange, "x-delayed-message": DelayedMessageExchange,
                        "x-message-deduplication": DedupExchange, "x-consistent-hash": ConsistentHashExchange}
    for name, cls in REGISTRY.items():
        assert exchange_class(name) is cls
        assert cls.type_name == name
        x = cls("x", durable=True, auto_delete=True, internal=True,
                arguments={"alternate-exchange": "ae", "x-delayed-type": "topic", "x-cache-size": 5})
        assert isinstance(x, Exchange) and x.is_exchange
        assert (x.name, x.durable, x.auto_delete, x.internal) == ("x", True, True, True)
        assert x.arguments["alternate-exchange"] == "ae"
        assert list(x.route("", lambda: None)) == []
    assert exchange_class("x-modulus-hash") is None
    assert exchange_class("Direct") is None
    assert exchange_class("") is None


# -- direct -----------------------------------------------------------------------------------------------
def test_direct_exact_match_only():
    x = DirectExchange("d")
    q1, q2 = Dest("q1"), Dest("q2")
    x.bind(Binding("d", q1, "a"))
    x.bind(Binding("d", q2, "a"))
    x.bind(Binding("d", q2, "b.c"))
    x.bind(Binding("d", q1, ""))
    assert ids(x.route("a", no_headers)) == ids([q1, q2])
    assert ids(x.route("b.c", no_headers)) == ids([q2])
    assert ids(x.route("", no_headers)) == ids([q1])
    for rk in ("A", "a ", "b", "b.*", "#", "*", "b.c.d"):
        assert list(x.route(rk, no_headers)) == []


def test_direct_route_returns_shared_collection():
    x = DirectExchange("d")
    q = Dest("q")
    x.bind(Binding("d", q, "k"))
    assert x.route("k", no_headers) is x.route("k", no_headers)
    assert x.route("missing", no_headers) == ()


def test_direct_idempotent_bind_and_distinct_arguments():
    x = DirectExchange("d")
    q = Dest("q")
    assert x.bind(Binding("d", q, "k")) is True
    assert x.bind(Binding("d", q, "k")) is False
    assert x.bind(Binding("d", q, "k", {"x-a": 1})) is True
    assert x.bind(Binding("d", q, "k", {"x-a": 2})) is True
    assert len(x.bindings) == 3
    # One entry per destination however many bindings lead there.
    assert ids(x.route("k", no_headers)) == ids([q])
    assert x.unbind(Binding("d", q, "k", {"x-a": 1})) is not None
    assert ids(x.route("k", no_headers)) == ids([q])
    assert x.unbind(Binding("d", q, "k")) is not None
    assert ids(x.route("k", no_headers)) == ids([q])
    assert x.unbind(Binding("d", q, "k")) is None
    assert x.unbind(Binding("d", q, "k", {"x-a": 2})) is not None
    assert list(x.route("k", no_headers)) == []
    assert x._routes == {} and x._refs == {}


def test_direct_identity_not_equality():
    x = DirectExchange("d")
    a, b = Dest("same"), Dest("same")
    x.bind(Binding("d", a, "k"))
    assert x.bind(Binding("d", b, "k")) is True
    assert ids(x.route("k", no_headers)) == ids([a, b])
    x.unbind(Binding("d", b, "k"))
    assert ids(x.route("k", no_headers)) == ids([a])
    assert x.unbind(Binding("d", b, "k")) is None
    assert ids(x.route("k", no_headers)) == ids([a])


def test_direct_remove_destination():
    x = DirectExchange("d")
    q1, q2 = Dest("q1"), Dest("q2")
    for rk in ("a", "b"):
        x.bind(Binding("d", q1, rk))
        x.bind(Binding("d", q1, rk, {"v": 1}))
    x.bind(Binding("d", q2, "a"))
    gone = x.remove_destination(q1)
    assert len(gone) == 4 and all(b.destination is q1 for b in gone)
    assert ids(x.route("a", no_headers)) == ids([q2])
    assert list(x.route("b", no_headers)) == []
    assert x.remove_destination(q1) == []
    assert x.has_bindings()
    x.remove_destination(q2)
    assert not x.has_bindings()
    assert x._routes == {} and x._refs == {}


# -- fanout -----------------------------------------------------------------------------------------------
def test_fanout_ignores_routing_key():
    x = FanoutExchange("f")
    q1, q2 = Dest("q1"), Dest("q2")
    assert list(x.route("any", no_headers)) == []
    x.bind(Binding("f", q1, "ignored"))
    x.bind(Binding("f", q2, ""))
    for rk in ("", "a", "ignored", "#"):
        assert ids(x.route(rk, no_headers)) == ids([q1, q2])
    assert x.route("a", no_headers) is x.route("b", no_headers)  # cached between changes


def test_fanout_bindings_per_destination():
    x = FanoutExchange("f")
    q1, q2 = Dest("q1"), Dest("q2")
    b1 = Binding("f", q1, "a")
    assert x.bind(b1) is True
    assert x.bind(Binding("f", q1, "a")) is False
    assert x.bind(Binding("f", q1, "b")) is True  # other key: another binding, still one copy
    assert x.bind(Binding("f", q1, "a", {"k": 1})) is True
    x.bind(Binding("f", q2, "a"))
    assert ids(x.route("", no_headers)) == ids([q1, q2])
    x.unbind(b1)
    assert ids(x.route("", no_headers)) == ids([q1, q2])
    x.unbind(Binding("f", q1, "b"))
    x.unbind(Binding("f", q1, "a", {"k": 1}))
    assert ids(x.route("", no_headers)) == ids([q2])
    assert x.unbind(Binding("f", q1, "a")) is None
    assert len(x.remove_destination(q2)) == 1
    assert list(x.route("", no_headers)) == []
    assert not x.has_bindings()


def test_fanout_remove_destination_and_rebind():
    x = FanoutExchange("f")
    q = Dest("q")
    x.bind(Binding("f", q, "a"))
    x.bind(Binding("f", q, "b"))
    assert len(x.remove_destination(q)) == 2
    assert list(x.route("", no_headers)) == []
    x.bind(Binding("f", q, "c"))
    assert ids(x.route("", no_headers)) == ids([q])


# -- default ----------------------------------------------------------------------------------------------
def test_default_exchange_routes_by_queue_name():
    queues = {"q1": Dest("q1")}
    x = DefaultExchange("", lookup=queues.get)
    assert (x.name, x.type_name, x.durable, x.auto_delete, x.internal) == ("", "direct", True, False, False)
    assert ids(x.route("q1", no_headers)) == ids([queues["q1"]])
    assert x.route("q2", no_headers) == ()
    queues["q2"] = Dest("q2")  # the exchange follows the vhost's table without being told
    assert ids(x.route("q2", no_headers)) == ids([queues["q2"]])
    del queues["q1"]
    assert x.route("q1", no_headers) == ()
    assert DefaultExchange(lookup=queues.get).name == ""


def test_default_exchange_has_no_bindings():
    queues = {"q": Dest("q")}
    x = DefaultExchange("", lookup=queues.get)
    with pytest.raises(RuntimeError):
        x.bind(Binding("", queues["q"], "q"))
    with pytest.raises(RuntimeError):
        x._index_add(Binding("", queues["q"], "q"))
    with pytest.raises(RuntimeError):
        x._index_remove(Binding("", queues["q"], "q"))
    assert x.bindings == {} and not x.has_bindings()
    assert x.unbind(Binding("", queues["q"], "q")) is None
    assert x.remove_destination(queues["q"]) == []
    assert "default" not in REGISTRY and "" not in REGISTRY
