"""x-consistent-hash's ring: jump consistent hashing and the buckets each binding owns."""

from __future__ import annotations

import collections

from hypothesis import given
from hypothesis import strategies as st

from amqpd.exchanges import Binding
from amqpd.exchanges.consistent_hash import ConsistentHashExchange, jump_hash, stable_hash


class Dest:
    is_exchange = False

    def __init__(self, name: str) -> None:
        self.name = name


@given(st.integers(0, 2**64 - 1), st.integers(1, 5000))
def test_growing_the_ring_moves_a_key_only_into_the_new_bucket(key, n):
    b = jump_hash(key, n)
    assert 0 <= b < n
    assert jump_hash(key, n + 1) in (b, n)


def test_keys_spread_evenly():
    counts = collections.Counter(jump_hash(stable_hash(f"key-{i}".encode()), 10) for i in range(20000))
    assert sorted(counts) == list(range(10))
    assert all(1700 < c < 2300 for c in counts.values()), counts


def test_the_hash_is_the_same_in_every_process_and_version():
    # A salted hash (Python's hash() of a str) would move keys at each restart, a changed one at upgrades:
    # these values are fixed once and for all.
    assert stable_hash(b"order-42") == 0xF3C9061A76B5AE94
    assert jump_hash(stable_hash(b"order-42"), 1000) == 29


def test_each_destination_owns_its_weight_in_buckets_in_binding_order():
    x = ConsistentHashExchange("x")
    a, b, c = Dest("a"), Dest("b"), Dest("c")
    for d, w in ((a, "1"), (b, "+3"), (c, "2")):
        x.bind(Binding("x", d, w))
    ends, owners = x.ring()
    assert ends == [1, 4, 6] and owners == [a, b, c]
    x.unbind(Binding("x", b, "+3"))  # the buckets after it are renumbered
    assert x.ring() == ([1, 3], [a, c])
    x.bind(Binding("x", a, "5"))  # a second binding to a destination adds no buckets (as in RabbitMQ 3.10)
    assert x.ring() == ([1, 3], [a, c])
    x.unbind(Binding("x", a, "1"))  # the first goes: the one left counts, in its place
    assert x.ring() == ([2, 7], [c, a])
    assert x.remove_destination(a) and x.ring() == ([2], [c])


def test_what_is_remembered_stays_bounded():
    from amqpd.exchanges.consistent_hash import MEMO_KEY_MAX, MEMO_MAX

    class Msg:
        routing_keys = None

        def __init__(self, value: str) -> None:
            self.value = value

        def headers_subset(self, names):
            return {"shard": self.value}

    x = ConsistentHashExchange("x", arguments={"hash-header": "shard"})
    a, b = Dest("a"), Dest("b")
    x.bind(Binding("x", a, "1"))
    x.bind(Binding("x", b, "1"))
    for i in range(3 * MEMO_MAX):
        assert x.route("k", Msg(f"s{i}")) in ((a,), (b,))
        assert len(x._memo) <= MEMO_MAX
    x._memo.clear()
    long = "v" * (MEMO_KEY_MAX + 1)  # a header value can be as long as the frame: not kept
    first = x.route("k", Msg(long))
    assert x.route("k", Msg(long)) == first and not x._memo
    x.bind(Binding("x", Dest("c"), "1"))  # a change of the ring forgets everything
    x.route("k", Msg("s1"))
    x.unbind(Binding("x", a, "1"))
    assert not x._memo
