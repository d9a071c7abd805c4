#!/usr/bin/env python
"""Partitioning by key with pika, as RabbitMQ's rabbitmq_consistent_hash_exchange plugin does it.

An x-consistent-hash exchange sends each message to one of its bound queues, picked by the hash of the
routing key (here an account id); a binding's routing key is its weight. Every event of one account lands
in the same queue, so one consumer per queue sees an account's events in order, and the queues share the
accounts in proportion to their weights. Adding a queue moves only the accounts that now hash to it."""

import collections
import os
import uuid

import pika

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")


def drain(channel, queues):
    """{queue: [account, ...]} in arrival order; the queues are emptied."""
    out = {}
    for q in queues:
        out[q] = []
        while True:
            method, _, body = channel.basic_get(q, auto_ack=True)
            if method is None:
                break
            out[q].append(body.decode().split(":")[0])
    return out


name = f"accounts-{uuid.uuid4().hex[:8]}"
with pika.BlockingConnection(pika.URLParameters(URL)) as connection:
    channel = connection.channel()
    channel.confirm_delivery()
    # auto-delete: goes with its last binding (the exclusive queues', when the connection closes)
    channel.exchange_declare(name, "x-consistent-hash", auto_delete=True)
    shards = []
    for i, weight in enumerate(("1", "1", "2")):  # the third shard takes about half the accounts
        q = channel.queue_declare(f"{name}-{i}", exclusive=True).method.queue
        channel.queue_bind(q, name, routing_key=weight)
        shards.append(q)

    accounts = [f"acct-{n}" for n in range(300)]
    for step in range(3):  # three events per account
        for account in accounts:
            channel.basic_publish(name, account, f"{account}:{step}".encode())
    placed = drain(channel, shards)
    where = collections.defaultdict(set)
    for q, seen in placed.items():
        for account in seen:
            where[account].add(q)
    sizes = [len(set(placed[q])) for q in shards]
    print(f" [*] 300 accounts over shards weighted 1, 1, 2: {sizes} accounts each")
    assert all(len(qs) == 1 for qs in where.values()), "an account's events were split"
    assert sum(sizes) == 300 and sizes[2] > max(sizes[0], sizes[1])

    extra = channel.queue_declare(f"{name}-3", exclusive=True).method.queue
    channel.queue_bind(extra, name, routing_key="1")
    for account in accounts:
        channel.basic_publish(name, account, f"{account}:later".encode())
    after = drain(channel, shards + [extra])
    moved = {a for q, seen in after.items() for a in seen if q not in where[a]}
    print(f" [*] a fourth shard joined: {len(moved)} accounts moved, all of them to it")
    assert moved and all(a in after[extra] for a in moved)
print("OK")
