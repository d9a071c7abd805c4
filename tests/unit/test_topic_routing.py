"""Topic exchange routing, checked against RabbitMQ's own tables and a brute-force reference matcher."""

from __future__ import annotations

import random

import pytest

from amqpd.exchanges import Binding
from amqpd.exchanges.topic import TopicExchange, split_key


class Dest:
    is_exchange = False

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Dest({self.name!r})"


def no_headers():
    raise AssertionError("a topic exchange must not look at headers")


def names(dests) -> set[str]:
    return {d.name for d in dests}


# RabbitMQ deps/rabbit/test/routing_SUITE.erl, topic1/1: (binding key, queue, arguments).
RMQ_BINDINGS = [
    ("a.b.c", "t1", {}), ("a.*.c", "t2", {}), ("a.#.b", "t3", {}), ("a.b.b.c", "t4", {}),
    ("#", "t5", {}), ("#.#", "t6", {}), ("#.b", "t7", {}), ("*.*", "t8", {}), ("a.*", "t9", {}),
    ("*.b.c", "t10", {}), ("a.#", "t11", {}), ("a.#.#", "t12", {}), ("b.b.c", "t13", {}),
    ("a.b.b", "t14", {}), ("a.b", "t15", {}), ("b.c", "t16", {}), ("", "t17", {}), ("*.*.*", "t18", {}),
    ("vodka.martini", "t19", {}), ("a.b.c", "t20", {}), ("*.#", "t21", {}), ("#.*.#", "t22", {}),
    ("*.#.#", "t23", {}), ("#.#.#", "t24", {}), ("*", "t25", {}), ("#.b.#", "t26", {}),
    ("args-test", "t27", {"foo": "bar"}),
    ("args-test", "t27", {"foo": "baz"}),  # same queue and key, other arguments: a second binding
]

RMQ_EXPECT_ALL = [
    ("a.b.c", "t1 t2 t5 t6 t10 t11 t12 t18 t20 t21 t22 t23 t24 t26"),
    ("a.b", "t3 t5 t6 t7 t8 t9 t11 t12 t15 t21 t22 t23 t24 t26"),
    ("a.b.b", "t3 t5 t6 t7 t11 t12 t14 t18 t21 t22 t23 t24 t26"),
    ("", "t5 t6 t17 t24"),
    ("b.c.c", "t5 t6 t18 t21 t22 t23 t24 t26"),
    ("a.a.a.a.a", "t5 t6 t11 t12 t21 t22 t23 t24"),
    ("vodka.gin", "t5 t6 t8 t21 t22 t23 t24"),
    ("vodka.martini", "t5 t6 t8 t19 t21 t22 t23 t24"),
    ("b.b.c", "t5 t6 t10 t13 t18 t21 t22 t23 t24 t26"),
    ("nothing.here.at.all", "t5 t6 t21 t22 t23 t24"),
    ("oneword", "t5 t6 t21 t22 t23 t24 t25"),
    ("args-test", "t5 t6 t21 t22 t23 t24 t25 t27"),
]

# After removing bindings number 1, 5, 11, 19, 21 and 28 (1-based), as the suite does.
RMQ_REMOVED = [1, 5, 11, 19, 21, 28]
RMQ_EXPECT_AFTER_REMOVAL = [
    ("a.b.c", "t2 t6 t10 t12 t18 t20 t22 t23 t24 t26"),
    ("a.b", "t3 t6 t7 t8 t9 t12 t15 t22 t23 t24 t26"),
    ("a.b.b", "t3 t6 t7 t12 t14 t18 t22 t23 t24 t26"),
    ("", "t6 t17 t24"),
    ("b.c.c", "t6 t18 t22 t23 t24 t26"),
    ("a.a.a.a.a", "t6 t12 t22 t23 t24"),
    ("vodka.gin", "t6 t8 t22 t23 t24"),
    ("vodka.martini", "t6 t8 t22 t23 t24"),
    ("b.b.c", "t6 t10 t13 t18 t22 t23 t24 t26"),
    ("nothing.here.at.all", "t6 t22 t23 t24"),
    ("oneword", "t6 t22 t23 t24 t25"),
    ("args-test", "t6 t22 t23 t24 t25 t27"),
]

# RabbitMQ deps/rabbit/test/rabbit_db_topic_exchange_SUITE.erl, match_0/1.
DB_BINDINGS = [("a.b.c", "q1"), ("a.*.c", "q2"), ("*.#", "q3"), ("#", "q4"), ("#.#", "q5"), ("a.*", "q6"),
               ("a.b.#", "q7")]
DB_EXPECT = [
    ("a.b.c", "q1 q2 q3 q4 q5 q7"),
    ("a.b", "q3 q4 q5 q6 q7"),
    ("", "q4 q5"),
    ("zen.rabbit", "q3 q4 q5"),
]

# Empty words, literal wildcard characters and repeated `#`: (binding key, routing key, matches?).
EDGE_CASES = [
    ("", "", True), ("", "a", False), ("", ".", False),
    ("#", "", True), ("#.#", "", True), ("#.#.#", "", True), ("*", "", False), ("#.*", "", False),
    ("*.#", "", False), (".", "", False),
    ("*", ".", False), ("*.*", ".", True), (".", ".", True), ("#", ".", True), ("#.*", ".", True),
    ("*.*.*", "..", True), ("..", "..", True), ("#", "..", True),
    ("a.*.b", "a..b", True), ("a.#.b", "a..b", True), ("a.b", "a..b", False), ("a..b", "a..b", True),
    ("*.*.*", "a..b", True), ("a.#", "a..b", True), ("#.b", "a..b", True),
    ("*.a", ".a", True), ("a", ".a", False), ("#.a", ".a", True), (".a", ".a", True), ("*", ".a", False),
    ("a.*", "a.", True), ("a", "a.", False), ("a.#", "a.", True), ("a.", "a.", True),
    ("a.#.#.b", "a.b", True), ("a.#.#.b", "a.x.b", True), ("a.#.#.b", "a.x.y.z.b", True),
    ("a.#.#.b", "a.b.c", False), ("a.#.#.b", "a", False), ("a.#.#.b", "b", False),
    ("#.a", "a", True), ("#.a", "x.a", True), ("#.a", "x.y.a", True), ("#.a", "a.x", False),
    ("#.a", "", False), ("a.#", "a", True), ("#.a.#", "a", True), ("#.a.#", "x.a.y", True),
    ("a#b", "a#b", True), ("a#b", "axb", False), ("a*b", "axb", False), ("a*", "ab", False),
    ("*", "*", True), ("a", "*", False), ("*", "#", True), ("#", "#", True), ("a", "#", False),
    ("a.b", "a.*", False), ("a.b", "a.#", False), ("a.*", "a.*", True), ("a.#", "a.#", True),
    ("*.*", "a", False), ("*.*", "a.b.c", False), ("*.#.*", "a", False), ("*.#.*", "a.b", True),
    ("*.#.*", "a.b.c.d", True), ("#.#.b.#.#", "b", True), ("#.#.b.#.#", "a.b.c", True),
    ("#.#.b.#.#", "a.c", False),
]


def reference_match(pattern: list[str], words: list[str]) -> bool:
    """Straight recursion over the binding's words: `#` takes zero or more words, `*` exactly one."""
    if not pattern:
        return not words
    head = pattern[0]
    if head == "#":
        return reference_match(pattern[1:], words) or (bool(words) and reference_match(pattern, words[1:]))
    if not words:
        return False
    return (head == "*" or head == words[0]) and reference_match(pattern[1:], words[1:])


def make_exchange(bindings):
    x = TopicExchange("t")
    dests: dict[str, Dest] = {}
    made = []
    for key, qname, args in bindings:
        d = dests.setdefault(qname, Dest(qname))
        b = Binding("t", d, key, args)
        x.bind(b)
        made.append(b)
    return x, dests, made


def expected(spec: str) -> set[str]:
    return set(spec.split())


@pytest.fixture
def rmq_exchange():
    return make_exchange(RMQ_BINDINGS)


@pytest.mark.parametrize(("routing_key", "want"), RMQ_EXPECT_ALL)
def test_rabbitmq_routing_suite(rmq_exchange, routing_key, want):
    x, _, _ = rmq_exchange
    assert names(x.route(routing_key, no_headers)) == expected(want)


@pytest.mark.parametrize(("routing_key", "want"), RMQ_EXPECT_AFTER_REMOVAL)
def test_rabbitmq_routing_suite_after_removal(rmq_exchange, routing_key, want):
    x, _, made = rmq_exchange
    # Route everything first so that stale cache entries would show.
    for rk, _ in RMQ_EXPECT_ALL:
        x.route(rk, no_headers)
    for n in RMQ_REMOVED:
        assert x.unbind(made[n - 1]) is made[n - 1]
    assert names(x.route(routing_key, no_headers)) == expected(want)


def test_rabbitmq_routing_suite_all_removed(rmq_exchange):
    x, _, made = rmq_exchange
    for b in made:
        x.unbind(b)
    assert not x.has_bindings()
    assert x._root.children == {} and x._root.dests == {}
    for rk in ("a.b.c", "b.b.c", ""):
        assert x.route(rk, no_headers) == ()


@pytest.mark.parametrize(("routing_key", "want"), DB_EXPECT)
def test_rabbitmq_db_suite(routing_key, want):
    x, _, _ = make_exchange([(k, q, {}) for k, q in DB_BINDINGS])
    assert names(x.route(routing_key, no_headers)) == expected(want)


@pytest.mark.parametrize(("binding_key", "routing_key", "matches"), EDGE_CASES)
def test_edge_cases(binding_key, routing_key, matches):
    x, _, _ = make_exchange([(binding_key, "q", {})])
    assert bool(x.route(routing_key, no_headers)) is matches
    # The table itself agrees with the reference matcher.
    assert reference_match(split_key(binding_key), split_key(routing_key)) is matches


def test_split_key():
    assert split_key("") == []
    assert split_key("a") == ["a"]
    assert split_key(".") == ["", ""]
    assert split_key("a..b") == ["a", "", "b"]
    assert split_key(".a") == ["", "a"]
    assert split_key("a.") == ["a", ""]


def test_random_against_reference():
    rng = random.Random(9091)
    words = ["a", "b", "", "*", "#"]

    def key(max_words: int) -> str:
        return ".".join(rng.choice(words) for _ in range(rng.randint(0, max_words)))

    binding_keys = sorted({key(5) for _ in range(300)})
    x = TopicExchange("t")
    dests = {}
    for bk in binding_keys:
        dests[bk] = Dest(bk)
        x.bind(Binding("t", dests[bk], bk))
    for _ in range(600):
        rk = key(7)
        want = {bk for bk in binding_keys if reference_match(split_key(bk), split_key(rk))}
        assert names(x.route(rk, no_headers)) == want, rk


def test_many_hashes_stay_fast():
    x = TopicExchange("t")
    x.bind(Binding("t", Dest("q"), ".".join(["#"] * 30) + ".z"))
    rk = ".".join(["w"] * 200)
    assert x.route(rk, no_headers) == ()
    assert names(x.route(rk + ".z", no_headers)) == {"q"}


def test_bind_is_idempotent_and_arguments_make_bindings_distinct():
    x = TopicExchange("t")
    q = Dest("q")
    assert x.bind(Binding("t", q, "a.*")) is True
    assert x.bind(Binding("t", q, "a.*")) is False
    assert x.bind(Binding("t", q, "a.*", {"k": 1})) is True
    assert len(x.bindings) == 2
    # One destination, however many of its bindings match.
    assert x.route("a.b", no_headers) == (q,)
    x.bind(Binding("t", q, "#"))
    assert x.route("a.b", no_headers) == (q,)
    x.unbind(Binding("t", q, "a.*"))
    assert x.route("a.b", no_headers) == (q,)
    x.unbind(Binding("t", q, "#"))
    assert x.route("a.b", no_headers) == (q,)  # the binding with arguments is still there
    x.unbind(Binding("t", q, "a.*", {"k": 1}))
    assert x.route("a.b", no_headers) == ()


def test_unbind_unknown_is_harmless():
    x = TopicExchange("t")
    q = Dest("q")
    x.bind(Binding("t", q, "a.b"))
    assert x.unbind(Binding("t", q, "a.c")) is None
    assert x.unbind(Binding("t", Dest("q"), "a.b")) is None  # another object with the same name
    assert names(x.route("a.b", no_headers)) == {"q"}


def test_cache_is_invalidated_by_bind_and_unbind():
    x = TopicExchange("t")
    q1, q2 = Dest("q1"), Dest("q2")
    assert x.route("a.b", no_headers) == ()
    b1 = Binding("t", q1, "a.#")
    x.bind(b1)
    assert x.route("a.b", no_headers) == (q1,)
    x.bind(Binding("t", q2, "*.b"))
    assert names(x.route("a.b", no_headers)) == {"q1", "q2"}
    x.unbind(b1)
    assert x.route("a.b", no_headers) == (q2,)
    assert x.remove_destination(q2)
    assert x.route("a.b", no_headers) == ()


def test_remove_destination():
    x = TopicExchange("t")
    q1, q2 = Dest("q1"), Dest("q2")
    for key in ("a.*", "#", "a.b"):
        x.bind(Binding("t", q1, key))
    x.bind(Binding("t", q2, "a.b"))
    assert names(x.route("a.b", no_headers)) == {"q1", "q2"}
    gone = x.remove_destination(q1)
    assert sorted(b.routing_key for b in gone) == ["#", "a.*", "a.b"]
    assert x.route("a.b", no_headers) == (q2,)
    assert x.route("z", no_headers) == ()
    assert set(x._root.children) == {"a"}  # the "#" and "a.*" branches were pruned
    assert x.remove_destination(q1) == []


def test_cache_is_bounded():
    x = TopicExchange("t")
    x.CACHE_SIZE = 8
    q = Dest("q")
    x.bind(Binding("t", q, "k.*"))
    for i in range(50):
        assert x.route(f"k.{i}", no_headers) == (q,)
        assert len(x._cache) <= 8
    assert x.route("k.49", no_headers) is x.route("k.49", no_headers)


def test_exchange_destinations_are_returned_like_queues():
    x = TopicExchange("t")
    e = Dest("e2")
    e.is_exchange = True
    x.bind(Binding("t", e, "#"))
    assert x.route("anything", no_headers) == (e,)
