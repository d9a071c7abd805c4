"""Streams (x-queue-type: stream): append-only queues read from any offset, stored in RocksDB.

offsets.py parses what clients send (x-max-age, x-stream-offset), log.py keeps one stream's records,
segments and retention on the store, queue.py is the queue the rest of the broker sees. docs/streams.md
describes the behaviour.
"""
