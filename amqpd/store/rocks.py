"""RocksDB store (through rocksdict): durable topology and persistent messages.

Message writes from one event-loop iteration go into one WriteBatch; a single writer thread syncs one
batch at a time while the loop keeps working, and publisher confirms wait for the batch that holds
their message. Topology changes are written synchronously before their -ok is sent, because a declare
that was acknowledged must survive kill -9. Column families and key layout: docs/storage.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from pathlib import Path
from typing import Any

from rocksdict import AccessType, Options, Rdict, WriteBatch, WriteOptions

from . import StoreWriteError, keys
from .records import decode_message, encode_message, encode_record, encode_table

COLUMN_FAMILIES = ("meta", "vhosts", "users", "exchanges", "queues", "bindings", "messages", "index", "access",
                   "parameters", "streams", "delayed", "dedup", "history")
# Every store has had these since format 1; a store without one of them is damaged, not old.
FIRST_FAMILIES = COLUMN_FAMILIES[:8]
META_FORMAT = b"format"
META_NEXT_ID = b"next_id"
FORMAT_FILE = "FORMAT"


# All memtables together stay under this: RocksDB's default (64 MiB per column family, two each) would
# otherwise let a large backlog hold hundreds of MiB of RSS in write buffers. Under a small memory
# watermark it is an eighth of the watermark instead (memtable_budget): paging writes content through
# the memtables, and a fixed 64 MiB would be half of a 128 MiB watermark.
MEMTABLE_BUDGET = 64 * 1024 * 1024
MEMTABLE_MIN = 8 * 1024 * 1024


def memtable_budget(memory_limit: int) -> int:
    return max(MEMTABLE_MIN, min(MEMTABLE_BUDGET, memory_limit // 8))


def _options(budget: int = MEMTABLE_BUDGET) -> Options:
    opts = Options(raw_mode=True)
    opts.set_db_write_buffer_size(budget)
    opts.set_write_buffer_size(budget // 4)
    return opts


def _read_marker(path: Path) -> int:
    try:
        name, version = path.read_text().split()
        if name != "amqpd-store":
            raise ValueError(name)
        return int(version)
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path} is not an amqpd store marker ({exc})") from None


class StoreError(Exception):
    """The store cannot be used; the message says why (lock, version, corruption)."""


class RocksStore:
    def __init__(self, data_dir: Path, log: Any, memtables: int = MEMTABLE_BUDGET) -> None:
        self.log = log
        self.memtables = memtables
        self._sync = WriteOptions()
        self._sync.sync = True
        self.path = Path(data_dir) / "rocksdb"
        self.marker = Path(data_dir) / FORMAT_FILE
        self.path.mkdir(parents=True, exist_ok=True)
        fresh = self._check_marker()
        if not fresh:
            self._verify_read_only({name: _options(memtables) for name in COLUMN_FAMILIES})
        try:
            self._open(fresh)
        except Exception as exc:  # rocksdict raises plain Exception with RocksDB's status text
            text = str(exc)
            if "lock" in text.lower():
                raise StoreError(f"data dir {data_dir} is in use by another amqpd process "
                                 f"(RocksDB lock held): {text}") from None
            raise StoreError(f"cannot open the RocksDB store in {self.path}: {text}") from None
        if fresh:
            self._create()
        raw = self.tables["meta"].get(META_NEXT_ID)
        self.next_entity_id = keys.key_id(raw) if raw else 1
        self.next_msg_id = 1
        self.first_msg_id = 1  # this run's first id: disk_writes = ids handed out since (stats)
        self.disk_reads = 0  # message bodies read back from RocksDB (paged out or recovered)
        # Stored messages referenced by more than one queue entry (a message in one queue, the usual
        # case, has no entry here: a backlog of a million costs no dict).
        self.refs: dict[int, int] = {}
        self.exchange_ids: dict[tuple[str, str], int] = {}
        self.binding_ids: dict[tuple, int] = {}
        # group commit state
        self.loop: asyncio.AbstractEventLoop | None = None
        self._batch = WriteBatch(raw_mode=True)
        self._ops = 0
        self.batch_no = 1  # number of the batch being filled
        self.synced_no = 0  # every batch up to this one is on disk (or failed)
        self.failed: set[int] = set()
        # Write errors. RocksDB refuses every write after one fails ("Writer has previous error") until
        # the database is reopened, which reopen() does once the disk can take writes again.
        self.error: str | None = None
        self.write_errors = 0
        self.on_failure: Any = None  # the broker's callback: f(failed: bool), for the alarm
        # Message ids whose content was in a failed batch: their content is not on disk, so paging must
        # keep it in memory (_unwritten) until the last reference goes.
        self._lost_ids: list[list[int]] = []
        self._unwritten: dict[int, tuple] = {}
        self._batch_first_id = 1
        self._in_flight = False
        self._scheduled = False
        self._pending: dict[int, tuple] = {}  # paged-out content not yet on disk, as load() returns it
        self._pending_ids: list[int] = []
        self.waiters: set[Any] = set()  # channels with confirms waiting for a sync
        # the keyed families (streams, delayed): objects waiting for a sync (.synced(number, ok)) and
        # objects to call (.before_commit()) before a batch is written
        self.sync_waiters: set[Any] = set()
        self.precommit: set[Any] = set()
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="amqpd-store")

    def _open(self, create: bool, read_only: bool = False) -> None:
        opts = _options(self.memtables)
        opts.create_if_missing(create)
        opts.create_missing_column_families(True)
        extra = {"access_type": AccessType.read_only()} if read_only else {}
        self.db = Rdict(str(self.path), opts, column_families={name: _options(self.memtables) for name in COLUMN_FAMILIES},
                        **extra)
        self.cf = {name: self.db.get_column_family_handle(name) for name in COLUMN_FAMILIES}
        self.tables = {name: self.db.get_column_family(name) for name in COLUMN_FAMILIES}

    def _check_marker(self) -> bool:
        """True for a new store. The FORMAT file beside the database says a store was created here, so
        a damaged database (say, a missing CURRENT or truncated MANIFEST, which RocksDB might otherwise
        open as a new, empty one) is refused instead of silently reset."""
        has_files = any(self.path.iterdir())
        if not self.marker.exists():
            if has_files:
                raise StoreError(f"{self.path} holds files but {self.marker} is missing: refusing to guess "
                                 "what this is (not creating a new store over it)")
            return True
        version = _read_marker(self.marker)
        if version != keys.FORMAT_VERSION:
            raise StoreError(f"{self.marker} says store format {version}; this amqpd reads format "
                             f"{keys.FORMAT_VERSION} only. Refusing to start rather than risk the data.")
        if not (self.path / "CURRENT").exists():
            raise StoreError(f"the store in {self.path} is corrupt: its CURRENT file is missing")
        return False

    def _verify_read_only(self, cf_opts: dict[str, Options]) -> None:
        """Open read-only first: a corrupt store is detected before anything writes to its files."""
        try:
            # Column families added by later versions (access, parameters) are created by the
            # read-write open; a read-only open must not name them.
            existing = set(Rdict.list_cf(str(self.path), Options(raw_mode=True)))
            missing = [cf for cf in FIRST_FAMILIES if cf not in existing]
            if missing:
                raise StoreError(f"the store in {self.path} is corrupt: column families {missing} are gone")
            db = Rdict(str(self.path), Options(raw_mode=True),
                       column_families={k: v for k, v in cf_opts.items() if k in existing},
                       access_type=AccessType.read_only())
        except StoreError:
            raise
        except Exception as exc:
            text = str(exc)
            if "lock" in text.lower():
                return  # the read-write open reports the lock
            raise StoreError(f"the store in {self.path} cannot be read (corrupt?): {text}") from None
        try:
            raw = db.get_column_family("meta").get(META_FORMAT)
        finally:
            db.close()
        if raw is None:
            raise StoreError(f"the store in {self.path} is corrupt: its format marker is gone although "
                             f"{self.marker} says it was created")
        try:
            version = keys.parse_version(raw)
        except ValueError as exc:
            raise StoreError(f"{self.path}: corrupt format marker ({exc})") from None
        if version != keys.FORMAT_VERSION:
            raise StoreError(f"{self.path} uses store format {version}; this amqpd reads format "
                             f"{keys.FORMAT_VERSION} only. Refusing to start rather than risk the data.")

    def _create(self) -> None:
        self.tables["meta"].put(META_FORMAT, keys.version_value(), self._sync)
        tmp = self.marker.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(f"amqpd-store {keys.FORMAT_VERSION}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.marker)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def close(self) -> None:
        """Shutdown: wait for the batch in flight, then write what is pending, in that order (a later
        batch may delete what an earlier one wrote)."""
        self._writer.shutdown(wait=True)
        if self._ops and self.error is None:
            try:
                self.db.write(self._batch, self._sync)
            except Exception as exc:
                self.log.error("store write failed at shutdown", error=str(exc), path=str(self.path))
            self._ops = 0
        if self.error is not None:
            self._close_quietly()
        else:
            self.db.close()
            self._release_handles()

    # -- messages (group committed) ---------------------------------------------------------------
    def add_message(self, queue: Any, entry: Any) -> None:
        ops = self._add_content(entry.msg)
        self._batch.put(keys.index_key(queue.store_id, entry.seq), self._index_value(entry, 0), self.cf["index"])
        self._dirty(ops + 1)

    def _add_content(self, msg: Any) -> int:
        """One more reference to a message's content: the first gives it an id and writes it (returns
        the number of batch operations added)."""
        mid = msg.id
        if mid:  # the same message in one more queue
            self.refs[mid] = self.refs.get(mid, 1) + 1
            return 0
        mid = msg.id = self.next_msg_id
        self.next_msg_id += 1
        self._batch.put(keys.id_key(mid), encode_message(msg.exchange, msg.routing_key, msg.header_payload,
                                                         msg.body, msg.routing_keys), self.cf["messages"])
        return 1

    @staticmethod
    def _index_value(entry: Any, flags: int) -> bytes:
        expires = entry.expires
        return keys.index_value(entry.msg.id, flags, entry.priority,
                                int(expires * 1000) if expires is not None else 0, entry.msg.body_size,
                                entry.delivery_count, entry.returned)

    def mark_delivered(self, queue: Any, entry: Any) -> None:
        self._batch.put(keys.index_key(queue.store_id, entry.seq), self._index_value(entry, keys.FLAG_DELIVERED),
                        self.cf["index"])
        self._dirty(1)

    def remove_message(self, queue: Any, entry: Any) -> None:
        self._batch.delete(keys.index_key(queue.store_id, entry.seq), self.cf["index"])
        self.release_content(entry.msg.id)
        self._dirty(1)

    def release_content(self, mid: int) -> None:
        """One reference to a stored message's content is gone; the last one deletes it."""
        left = self.refs.pop(mid, 1) - 1
        if left <= 0:
            self._batch.delete(keys.id_key(mid), self.cf["messages"])
            self._pending.pop(mid, None)
            if self._unwritten:
                self._unwritten.pop(mid, None)
        elif left > 1:
            self.refs[mid] = left
        self._dirty(1)

    def page_content(self, msg: Any) -> None:
        """Memory is short: keep a message's content here instead of in memory, with no index entry (a
        transient message, or one in a queue that does not store it). It lives until release_content;
        recovery deletes any left at a crash as orphans."""
        if self._add_content(msg):
            self._dirty(1)

    def move(self, queue: Any, entry: Any, old_seq: int) -> None:
        """A quorum queue re-enqueued a message at its back: its index key follows its new seq."""
        self._batch.delete(keys.index_key(queue.store_id, old_seq), self.cf["index"])
        self._dirty(1)

    def mark_redelivered(self, queue: Any, entries: list[Any]) -> None:
        # The delivered flag was written at first delivery; only a quorum queue's delivery count
        # changes on a return.
        if queue.quorum:
            for entry in entries:  # quorum queues store every message, persistent or not
                self._batch.put(keys.index_key(queue.store_id, entry.seq),
                                self._index_value(entry, keys.FLAG_DELIVERED), self.cf["index"])
            self._dirty(len(entries))

    def page_out(self, msg: Any) -> None:
        """Remember content of a message whose in-memory copy is being dropped before its batch syncs."""
        content = (msg.exchange, msg.routing_key, msg.header_payload, msg.body, msg.routing_keys)
        if self._lost_ids and self._was_lost(msg.id):
            self._unwritten[msg.id] = content  # never reached the disk: memory is the only copy
            return
        self._pending[msg.id] = content
        self._pending_ids.append(msg.id)

    def _was_lost(self, mid: int) -> bool:
        return any(first <= mid < end for first, end in self._lost_ids)

    def load(self, msg_id: int) -> tuple[str, str, bytes, bytes, list[str] | None]:
        pending = self._pending.get(msg_id)
        if pending is not None:
            return pending
        if self._unwritten:
            unwritten = self._unwritten.get(msg_id)
            if unwritten is not None:
                return unwritten
        raw = self.tables["messages"].get(keys.id_key(msg_id))
        if raw is None:
            raise KeyError(f"message {msg_id} is not in the store")
        self.disk_reads += 1
        return decode_message(raw)

    @property
    def disk_writes(self) -> int:
        """Message bodies written this run (each once, however many queues hold it)."""
        return self.next_msg_id - self.first_msg_id

    def _dirty(self, ops: int) -> None:
        self._ops += ops
        if not self._scheduled and not self._in_flight:
            self._scheduled = True
            self.loop.call_soon(self._commit)

    def _commit(self) -> None:
        self._scheduled = False
        if self._in_flight or not self._ops:
            return
        if self.precommit:
            due, self.precommit = self.precommit, set()
            for obj in due:
                obj.before_commit()
        batch, number = self._batch, self.batch_no
        pending_ids, self._pending_ids = self._pending_ids, []
        # ids are handed out in order, so the contents this batch writes are exactly this range
        ids = (self._batch_first_id, self.next_msg_id)
        self._batch_first_id = self.next_msg_id
        self._batch = WriteBatch(raw_mode=True)
        self._ops = 0
        self.batch_no += 1
        self._in_flight = True
        fut = self.loop.run_in_executor(self._writer, self.db.write, batch, self._sync)
        fut.add_done_callback(lambda f: self._committed(number, pending_ids, ids, f))

    def _committed(self, number: int, pending_ids: list[int], ids: tuple[int, int], fut: asyncio.Future) -> None:
        self._in_flight = False
        exc = fut.exception()
        if exc is not None:
            self.failed.add(number)
            self._content_lost(*ids)
            for mid in pending_ids:
                content = self._pending.pop(mid, None)
                if content is not None:
                    self._unwritten[mid] = content
            pending_ids = []
            self._write_failed(exc, "publishes in this batch are nacked", batch=number)
        self.synced_no = number
        for mid in pending_ids:
            self._pending.pop(mid, None)
        if self.sync_waiters:
            waiting, self.sync_waiters = self.sync_waiters, set()
            for obj in waiting:
                obj.synced(number, exc is None)
        waiters, self.waiters = self.waiters, set()
        for ch in waiters:
            ch.conn.want_confirm_flush(ch)
        if self._ops:
            self._commit()

    # -- keyed families (streams, delayed): keys and bytes, meaning belongs above -------------------
    def put(self, cf: str, key: bytes, value: bytes) -> int:
        """Into the batch being filled (group committed); returns that batch's number."""
        self._batch.put(key, value, self.cf[cf])
        self._dirty(1)
        return self.batch_no

    def delete(self, cf: str, key: bytes) -> int:
        self._batch.delete(key, self.cf[cf])
        self._dirty(1)
        return self.batch_no

    def touch(self) -> None:
        """Nothing to add yet, but a batch must be written: a before_commit fills it."""
        if not self._ops:
            self._ops = 1  # _commit skips a batch with no operations
        self._dirty(0)

    def delete_range(self, cf: str, start: bytes, end: bytes) -> None:
        self._batch.delete_range(start, end, self.cf[cf])
        self._dirty(1)

    def scan(self, cf: str, start: bytes, end: bytes, limit: int) -> list[tuple[bytes, bytes]]:
        """Up to `limit` (key, value) pairs in [start, end), in key order, as written so far."""
        out = []
        for key, value in self.tables[cf].items(from_key=start):
            if key >= end or len(out) >= limit:
                break
            out.append((key, value))
        return out

    def drop_range(self, cf: str, start: bytes, end: bytes) -> None:
        """Keys deleted now (a deleted stream), not with the next batch."""
        b = WriteBatch(raw_mode=True)
        b.delete_range(start, end, self.cf[cf])
        self._write_now(b)

    # -- topology (synchronous) -------------------------------------------------------------------
    def _new_id(self, batch: WriteBatch) -> int:
        entity_id = self.next_entity_id
        self.next_entity_id += 1
        batch.put(META_NEXT_ID, keys.id_key(self.next_entity_id), self.cf["meta"])
        return entity_id

    def _write_now(self, batch: WriteBatch) -> None:
        try:
            self.db.write(batch, self._sync)
        except Exception as exc:
            self._write_failed(exc, "the change is not saved and is refused")
            raise StoreWriteError(f"store write failed: {self.error}") from None

    # -- write errors -----------------------------------------------------------------------------
    def _content_lost(self, first: int, end: int) -> None:
        if first >= end:
            return
        last = self._lost_ids[-1] if self._lost_ids else None
        if last is not None and last[1] == first:
            last[1] = end  # failed batches in a row: one range
        else:
            self._lost_ids.append([first, end])

    def _write_failed(self, exc: BaseException, consequence: str, **context: Any) -> None:
        self.write_errors += 1
        first = self.error is None
        self.error = str(exc)
        if first:  # one error line per failure, not one per batch while the disk stays unwritable
            self.log.error("store write failed; " + consequence, error=self.error, path=str(self.path), **context)
            if self.on_failure is not None:
                self.on_failure(True)

    def _close_quietly(self) -> None:
        try:
            self.db.cancel_all_background(False)  # without this, close retries the failed flush for a second
            self.db.close()
        except Exception:  # it reports the old error again; the handle is closed all the same
            pass
        self._release_handles()

    def _release_handles(self) -> None:
        # the column family handles keep the database (and its LOCK file) alive after close
        self.cf, self.tables = {}, {}

    def reopen(self) -> bool:
        """After a write error: reopen the database (RocksDB refuses all writes until then) and prove
        it takes a synced write. Cheap (~10 ms, on the loop so no reader sees a closing handle); the
        caller tries once the disk looks writable again. True when the store works again."""
        if self.error is None:
            return True
        if self._in_flight:
            return False
        self._close_quietly()
        try:
            self._open(False)
            probe = WriteBatch(raw_mode=True)
            probe.put(META_NEXT_ID, keys.id_key(self.next_entity_id), self.cf["meta"])
            self.db.write(probe, self._sync)
        except Exception as exc:
            self.error = str(exc)
            self._close_quietly()
            try:  # paged-out content must stay readable while the disk refuses writes
                self._open(False, read_only=True)
            except Exception as ro_exc:
                self.log.error("store cannot be reopened, even read-only", error=str(ro_exc), path=str(self.path))
            return False
        self.log.warning("store writable again", path=str(self.path), write_errors=self.write_errors)
        self.error = None
        if self.on_failure is not None:
            self.on_failure(False)
        if self._ops:
            self._dirty(0)
        return True

    # -- records of the operations layer: ids and bytes, meaning belongs to ops/ --------------------
    def new_record_id(self) -> int:
        b = WriteBatch(raw_mode=True)
        rid = self._new_id(b)
        self._write_now(b)
        return rid

    def put_record(self, cf: str, record_id: int, value: bytes) -> None:
        b = WriteBatch(raw_mode=True)
        b.put(keys.id_key(record_id), value, self.cf[cf])
        self._write_now(b)

    def delete_record(self, cf: str, record_id: int) -> None:
        self._delete_one(cf, record_id)

    def records(self, cf: str) -> list[tuple[int, bytes]]:
        return [(keys.key_id(k), v) for k, v in self.tables[cf].items()]

    def add_queue(self, queue: Any) -> None:
        b = WriteBatch(raw_mode=True)
        queue.store_id = self._new_id(b)
        b.put(keys.id_key(queue.store_id), encode_record(
            "queue", vhost=queue.vhost.name, name=queue.name, auto_delete=queue.auto_delete,
            arguments=encode_table(queue.arguments)), self.cf["queues"])
        self._write_now(b)

    def delete_queue(self, queue: Any) -> None:
        qid = getattr(queue, "store_id", 0)
        if not qid:
            return
        b = WriteBatch(raw_mode=True)
        b.delete(keys.id_key(qid), self.cf["queues"])
        start, end = keys.queue_range(qid)
        b.delete_range(start, end, self.cf["index"])
        self._write_now(b)

    def add_exchange(self, vhost: str, exchange: Any) -> None:
        b = WriteBatch(raw_mode=True)
        xid = self._new_id(b)
        b.put(keys.id_key(xid), encode_record(
            "exchange", vhost=vhost, name=exchange.name, type=exchange.type_name, auto_delete=exchange.auto_delete,
            internal=exchange.internal, arguments=encode_table(exchange.arguments), user=exchange.declared_by),
            self.cf["exchanges"])
        self._write_now(b)
        self.exchange_ids[(vhost, exchange.name)] = xid

    def delete_exchange(self, vhost: str, exchange: Any) -> None:
        xid = self.exchange_ids.pop((vhost, exchange.name), None)
        if xid is not None:
            self._delete_one("exchanges", xid)

    def _delete_one(self, cf: str, entity_id: int) -> None:
        b = WriteBatch(raw_mode=True)
        b.delete(keys.id_key(entity_id), self.cf[cf])
        self._write_now(b)

    @staticmethod
    def binding_identity(vhost: str, binding: Any) -> tuple:
        d = binding.destination
        return (vhost, binding.source, "exchange" if d.is_exchange else "queue", d.name, binding.key[1:])

    def add_binding(self, vhost: str, binding: Any) -> None:
        b = WriteBatch(raw_mode=True)
        bid = self._new_id(b)
        d = binding.destination
        b.put(keys.id_key(bid), encode_record(
            "binding", vhost=vhost, source=binding.source, dest_kind="exchange" if d.is_exchange else "queue",
            destination=d.name, routing_key=binding.routing_key, arguments=encode_table(binding.arguments)),
            self.cf["bindings"])
        self._write_now(b)
        self.binding_ids[self.binding_identity(vhost, binding)] = bid

    def remove_binding(self, vhost: str, binding: Any) -> None:
        bid = self.binding_ids.pop(self.binding_identity(vhost, binding), None)
        if bid is not None:
            self._delete_one("bindings", bid)
