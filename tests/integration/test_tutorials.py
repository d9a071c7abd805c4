"""RabbitMQ's six Python tutorials, end to end, with pika and aio-pika.

The programs live in ``tests/integration/tutorials/`` (one file per tutorial per client). Here they
run the way a reader of the tutorials runs them: consumers first (in threads, asyncio tasks or
subprocesses), then the producers, concurrently, and every consumer must end up with exactly the
messages the tutorial says it gets. Fixed tutorial names ("hello", "task_queue", "logs",
"direct_logs", "topic_logs", "rpc_queue") get a unique suffix so runs can share a broker.

Consumers stop by themselves after the expected number of messages or a deadline. Where a single
producer channel publishes, the last message is one that every consumer is subscribed to, so a
consumer that got something it should not have stops before it and the comparison of the whole list
fails.
"""

from __future__ import annotations

import asyncio
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import aio_pika
import pika
import pika.exceptions
import pytest

HERE = Path(__file__).resolve().parent
TUTORIALS = HERE / "tutorials"
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from tutorials import (  # noqa: E402
    aio_1_hello,
    aio_2_work_queues,
    aio_3_publish_subscribe,
    aio_4_routing,
    aio_5_topics,
    aio_6_rpc,
    pika_1_hello,
    pika_2_work_queues,
    pika_3_publish_subscribe,
    pika_4_routing,
    pika_5_topics,
    pika_6_rpc,
)

pytestmark = pytest.mark.timeout(120)

WAIT = 20.0  # the longest any single step may take

CLIENTS = ["pika", "aio"]

# ---------------------------------------------------------------------------------------------------
# Tutorial data


FIB = {0: 0, 1: 1, 2: 1, 3: 2, 5: 5, 7: 13, 10: 55, 15: 610, 20: 6765}
RPC_NUMBERS = [0, 1, 2, 10, 15, 20, 7, 3]

LOGS = [
    "info: Hello World!",
    "warning: Disk space is running low",
    "error: Run out of memory",
]

ROUTING_LOGS = [
    ("info", "Run. Run. Or it will explode."),
    ("warning", "Disk space is running low"),
    ("debug", "Nobody subscribed to debug"),
    ("error", "Run out of memory"),
    ("info", "Back to normal"),
    ("error", "Kernel panic"),  # last: every receiver below subscribes to "error"
]
ROUTING_SUBSCRIPTIONS = {
    "save errors to disk": (["error"], [ROUTING_LOGS[3], ROUTING_LOGS[5]]),
    "print everything": (["info", "warning", "error"], [log for log in ROUTING_LOGS if log[0] != "debug"]),
    "warnings and errors": (["warning", "error"], [ROUTING_LOGS[1], ROUTING_LOGS[3], ROUTING_LOGS[5]]),
}

TOPIC_LOGS = [
    ("kern.info", "Kernel booted"),
    ("cron.critical", "Cron daemon died"),
    ("auth.warning", "Failed password for root"),
    ("kern.disk.full", "No space left on device"),
    ("kern", "A facility without severity"),
    ("kern.critical", "A critical kernel error"),  # last: matches every binding below
]
_T = dict(TOPIC_LOGS)
TOPIC_SUBSCRIPTIONS = {
    "#": (["#"], TOPIC_LOGS),
    "kern.*": (["kern.*"], [("kern.info", _T["kern.info"]), ("kern.critical", _T["kern.critical"])]),
    "*.critical": (["*.critical"], [("cron.critical", _T["cron.critical"]), ("kern.critical", _T["kern.critical"])]),
    "kern.* *.critical": (
        ["kern.*", "*.critical"],
        [("kern.info", _T["kern.info"]), ("cron.critical", _T["cron.critical"]), ("kern.critical", _T["kern.critical"])],
    ),
    "kern.#": (
        ["kern.#"],
        [("kern.info", _T["kern.info"]), ("kern.disk.full", _T["kern.disk.full"]), ("kern", _T["kern"]),
         ("kern.critical", _T["kern.critical"])],
    ),
}

# The animals of tutorial five: Q1 is bound with "*.orange.*", Q2 with "*.*.rabbit" and "lazy.#".
ANIMAL_LOGS = [
    ("quick.orange.rabbit", "a quick orange rabbit"),  # Q1 and Q2
    ("lazy.orange.elephant", "a lazy orange elephant"),  # Q1 and Q2
    ("quick.orange.fox", "a quick orange fox"),  # Q1
    ("lazy.brown.fox", "a lazy brown fox"),  # Q2
    ("lazy.pink.rabbit", "a lazy pink rabbit"),  # Q2, once although both of its bindings match
    ("quick.brown.fox", "a quick brown fox"),  # nobody
    ("orange", "one word"),  # nobody
    ("quick.orange.new.rabbit", "four words"),  # nobody
    ("lazy.orange.new.rabbit", "four lazy words"),  # Q2
    ("lazy", "just lazy"),  # Q2: "#" matches zero words
    ("lazy.orange.rabbit", "a lazy orange rabbit"),  # last: Q1 and Q2
]
_A = dict(ANIMAL_LOGS)
ANIMAL_SUBSCRIPTIONS = {
    "Q1": (["*.orange.*"], [(k, _A[k]) for k in
                            ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox", "lazy.orange.rabbit"]]),
    "Q2": (["*.*.rabbit", "lazy.#"], [(k, _A[k]) for k in
                                      ["quick.orange.rabbit", "lazy.orange.elephant", "lazy.brown.fox",
                                       "lazy.pink.rabbit", "lazy.orange.new.rabbit", "lazy", "lazy.orange.rabbit"]]),
}

# ---------------------------------------------------------------------------------------------------
# Helpers


class Background(threading.Thread):
    """Run a tutorial function in a thread.

    Consumers get an ``on_ready`` callback; ``wait_ready()`` returns the queue name they consume from.
    """

    def __init__(self, fn, *args, ready: bool = True, **kwargs):
        super().__init__(daemon=True, name=getattr(fn, "__name__", "tutorial"))
        self._fn, self._args, self._kwargs = fn, args, kwargs
        if ready:
            self._kwargs["on_ready"] = self._on_ready
        self.ready = threading.Event()
        self.queue_name: str | None = None
        self._result = None
        self._error: BaseException | None = None
        self.start()

    def _on_ready(self, queue_name):
        self.queue_name = queue_name
        self.ready.set()

    def run(self):
        try:
            self._result = self._fn(*self._args, **self._kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            self._error = exc
        finally:
            self.ready.set()

    def wait_ready(self, timeout: float = WAIT) -> str:
        assert self.ready.wait(timeout), f"{self.name} did not start consuming within {timeout}s"
        if self._error is not None:
            raise self._error
        assert self.queue_name is not None, f"{self.name} ended before it was ready"
        return self.queue_name

    def result(self, timeout: float = WAIT):
        self.join(timeout)
        assert not self.is_alive(), f"{self.name} still running after {timeout}s"
        if self._error is not None:
            raise self._error
        return self._result


def in_thread(coro_fn):
    """Wrap an aio tutorial coroutine function so that it runs in its own event loop (for Background)."""

    def run(*args, **kwargs):
        return asyncio.run(coro_fn(*args, **kwargs))

    run.__name__ = coro_fn.__name__
    return run


def run_async(coro, timeout: float = 90):
    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def started(coro_fn, *args, **kwargs):
    """Start an aio consumer as a task and wait until it consumes; returns (task, queue name)."""
    ready = asyncio.get_running_loop().create_future()

    def on_ready(queue_name):
        if not ready.done():
            ready.set_result(queue_name)

    task = asyncio.create_task(coro_fn(*args, on_ready=on_ready, **kwargs))
    done, _ = await asyncio.wait({task, ready}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        if task in done:
            task.result()
            raise AssertionError(f"{coro_fn.__name__} ended before it was ready")
        task.cancel()
        raise AssertionError(f"{coro_fn.__name__} did not start consuming within {WAIT}s")
    return task, ready.result()


async def finished(task: asyncio.Task, timeout: float = WAIT):
    return await asyncio.wait_for(task, timeout)


def wait_until(predicate, timeout: float = WAIT, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.02)


def queue_state(broker, name: str):
    """(message_count, consumer_count) of a queue, or None if it does not exist."""
    connection = pika.BlockingConnection(broker.pika_params())
    try:
        ok = connection.channel().queue_declare(queue=name, passive=True)
        return ok.method.message_count, ok.method.consumer_count
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 404:
            return None
        if exc.reply_code == 405:  # exclusive queue of another connection: it exists
            return "locked"
        raise
    finally:
        if connection.is_open:
            connection.close()


def assert_queue_state(broker, name: str, expected, timeout: float = 5):
    """The queue's (message_count, consumer_count) becomes ``expected`` (the broker may lag a little)."""
    last = []

    def check():
        last[:] = [queue_state(broker, name)]
        return last[0] == expected

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"queue {name!r}: {last[0]} != {expected} after {timeout}s"
        time.sleep(0.05)


def wait_queue_gone(broker, name: str, timeout: float = 10):
    wait_until(lambda: queue_state(broker, name) is None, timeout, f"queue {name!r} to be deleted")


def expect_channel_error(broker, reply_code: int, action):
    """Run ``action(channel)`` on a fresh connection and expect the broker to close the channel."""
    connection = pika.BlockingConnection(broker.pika_params())
    try:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
            action(connection.channel())
        assert info.value.reply_code == reply_code, info.value
    finally:
        if connection.is_open:
            connection.close()


class Program:
    """A tutorial program run as ``python -u tutorials/<script> URL args...``."""

    def __init__(self, script: str, url: str, *args: str):
        self.argv = [sys.executable, "-u", str(TUTORIALS / script), url, *args]
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self._new: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            self._new.put(line)
        self._new.put(None)

    def output(self) -> str:
        return f"$ {' '.join(self.argv[2:])}\n" + "\n".join(self.lines)

    def wait_for(self, prefix: str, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._new.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line starting with {prefix!r} within {timeout}s\n{self.output()}") from None
            if line is None:
                raise AssertionError(f"exited ({self.proc.wait()}) before printing {prefix!r}\n{self.output()}")
            if line.startswith(prefix):
                return line

    def finish(self, timeout: float = WAIT) -> list[str]:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {timeout}s\n{self.output()}") from None
        self._reader.join(5)
        assert rc == 0, f"exit status {rc}\n{self.output()}"
        return list(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)


def printed(lines: list[str], prefix: str) -> list[str]:
    return [line[len(prefix):] for line in lines if line.startswith(prefix)]


def printed_logs(lines: list[str]) -> list[tuple[str, str]]:
    """The ``[x] <routing key>:<message>`` lines of receive_logs_direct / receive_logs_topic."""
    return [tuple(rest.split(":", 1)) for rest in printed(lines, " [x] ")]


@pytest.fixture
def declared(broker):
    """Remember queues and exchanges a test creates; delete them afterwards."""
    names: dict[str, list[str]] = {"queue": [], "exchange": []}

    class Registry:
        def queue(self, name: str) -> str:
            names["queue"].append(name)
            return name

        def exchange(self, name: str) -> str:
            names["exchange"].append(name)
            return name

    yield Registry()
    try:
        connection = pika.BlockingConnection(broker.pika_params())
    except Exception:
        return
    try:
        for kind, items in names.items():
            for name in items:
                try:
                    channel = connection.channel()
                    if kind == "queue":
                        channel.queue_delete(queue=name)
                    else:
                        channel.exchange_delete(exchange=name)
                    channel.close()
                except Exception:
                    if not connection.is_open:
                        return
    finally:
        if connection.is_open:
            connection.close()


@pytest.fixture
def programs():
    """Start tutorial programs as subprocesses; any still running at the end is killed."""
    started_programs: list[Program] = []

    def start(script: str, url: str, *args: str) -> Program:
        program = Program(script, url, *args)
        started_programs.append(program)
        return program

    yield start
    for program in started_programs:
        program.kill()


# ---------------------------------------------------------------------------------------------------
# 1. "Hello World!"


def test_pika_hello_world(broker, declared, uniq):
    params = broker.pika_params()
    hello = declared.queue(uniq("hello"))

    receiver = Background(pika_1_hello.receive, params, queue=hello, count=1, timeout=WAIT)
    assert receiver.wait_ready() == hello
    pika_1_hello.send(params, queue=hello)

    assert receiver.result() == ["Hello World!"]
    assert_queue_state(broker, hello, (0, 0))


def test_pika_hello_world_message_waits_for_the_receiver(broker, declared, uniq):
    params = broker.pika_params()
    hello = declared.queue(uniq("hello"))

    pika_1_hello.send(params, "Hello World!", "Hello again!", queue=hello)  # nobody consumes yet
    assert_queue_state(broker, hello, (2, 0))

    # The program's command line entry, called in-process.
    received = pika_1_hello.main(params, "receive", "--queue", hello, "--count", "2", "--timeout", str(WAIT))
    assert received == ["Hello World!", "Hello again!"]
    assert_queue_state(broker, hello, (0, 0))


def test_aio_hello_world(broker, declared, uniq):
    hello = declared.queue(uniq("hello"))

    async def scenario():
        receiver, name = await started(aio_1_hello.receive, broker.url, queue=hello, count=1, timeout=WAIT)
        assert name == hello
        await aio_1_hello.send(broker.url, queue=hello)
        return await finished(receiver)

    assert run_async(scenario()) == ["Hello World!"]
    assert_queue_state(broker, hello, (0, 0))


def test_aio_hello_world_message_waits_for_the_receiver(broker, declared, uniq):
    hello = declared.queue(uniq("hello"))

    run_async(aio_1_hello.send(broker.url, "Hello World!", "Hello again!", queue=hello))
    assert_queue_state(broker, hello, (2, 0))

    # The program's command line entry, called in-process (it runs its own event loop).
    received = aio_1_hello.main(broker.url, "receive", "--queue", hello, "--count", "2", "--timeout", str(WAIT))
    assert received == ["Hello World!", "Hello again!"]
    assert_queue_state(broker, hello, (0, 0))


# ---------------------------------------------------------------------------------------------------
# 2. Work queues: durable queue, persistent messages, manual acks, prefetch_count=1


TASKS = [f"Task {i}" + "." * (i % 3 + 1) for i in range(8)]
HEAVY_TASK = "A heavy task" + "." * 20  # 2 s at 0.1 s per dot
LIGHT_TASKS = [f"Light task {i}." for i in range(5)]  # 0.1 s each, 0.5 s together


def assert_work_shared(results: list[list], tasks: list[str]):
    bodies = [task.body for result in results for task in result]
    assert sorted(bodies) == sorted(tasks), "every task done exactly once"
    for result in results:
        assert result, "both workers got work"
        mine = [task.body for task in result]
        assert mine == [t for t in tasks if t in mine], "each worker sees its tasks in publish order"
    for result in results:
        for task in result:
            assert task.delivery_mode == 2, f"{task.body!r} was not persistent"
            assert task.redelivered is False


def assert_fair_dispatch(results: list[list]):
    heavy = [r for r in results if any(t.body == HEAVY_TASK for t in r)]
    assert len(heavy) == 1, results
    light = [r for r in results if r is not heavy[0]]
    assert [t.body for t in heavy[0]] == [HEAVY_TASK], "the busy worker got nothing while busy"
    assert [t.body for t in light[0]] == LIGHT_TASKS


def assert_durable_task_queue(broker, task_queue):
    assert_queue_state(broker, task_queue, (0, 0))
    # It is durable: declaring it again as transient is refused.
    expect_channel_error(broker, 406, lambda ch: ch.queue_declare(queue=task_queue, durable=False))


def run_pika_workers(broker, task_queue, seconds_per_dot, tasks) -> list[list]:
    """Two tutorial workers on task_queue; new_task sends tasks; returns what each worker did."""
    params = broker.pika_params()
    stop = threading.Event()
    results: list[list] = [[], []]
    workers = [Background(pika_2_work_queues.worker, params, queue=task_queue, seconds_per_dot=seconds_per_dot,
                          stop=stop, results=result, timeout=WAIT) for result in results]
    for worker in workers:
        worker.wait_ready()
    pika_2_work_queues.new_task(params, *tasks, queue=task_queue)
    wait_until(lambda: sum(map(len, results)) >= len(tasks), what="all tasks to be done")
    stop.set()
    for worker in workers:
        worker.result()
    return results


def test_pika_work_queues_durable_persistent_manual_ack(broker, declared, uniq):
    task_queue = declared.queue(uniq("task_queue"))
    results = run_pika_workers(broker, task_queue, 0.05, TASKS)

    assert_work_shared(results, TASKS)
    assert_durable_task_queue(broker, task_queue)


def test_pika_work_queues_fair_dispatch(broker, declared, uniq):
    task_queue = declared.queue(uniq("task_queue"))
    results = run_pika_workers(broker, task_queue, 0.1, (HEAVY_TASK, *LIGHT_TASKS))

    assert_fair_dispatch(results)
    assert_queue_state(broker, task_queue, (0, 0))


def test_aio_work_queues_durable_persistent_manual_ack(broker, declared, uniq):
    task_queue = declared.queue(uniq("task_queue"))

    async def scenario():
        stop = asyncio.Event()
        results: list[list] = [[], []]
        workers = [
            (await started(aio_2_work_queues.worker, broker.url, queue=task_queue, seconds_per_dot=0.05,
                           stop=stop, results=result, timeout=WAIT))[0]
            for result in results
        ]
        await aio_2_work_queues.new_task(broker.url, *TASKS, queue=task_queue)
        deadline = time.monotonic() + WAIT
        while sum(map(len, results)) < len(TASKS) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        for worker in workers:
            await finished(worker)
        return results

    results = run_async(scenario())
    assert_work_shared(results, TASKS)
    assert_durable_task_queue(broker, task_queue)


def test_aio_work_queues_fair_dispatch(broker, declared, uniq):
    task_queue = declared.queue(uniq("task_queue"))

    async def scenario():
        stop = asyncio.Event()
        results: list[list] = [[], []]
        workers = [
            (await started(aio_2_work_queues.worker, broker.url, queue=task_queue, seconds_per_dot=0.1,
                           stop=stop, results=result, timeout=WAIT))[0]
            for result in results
        ]
        await aio_2_work_queues.new_task(broker.url, HEAVY_TASK, *LIGHT_TASKS, queue=task_queue)
        deadline = time.monotonic() + WAIT
        while sum(map(len, results)) < 1 + len(LIGHT_TASKS) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        stop.set()
        for worker in workers:
            await finished(worker)
        return results

    assert_fair_dispatch(run_async(scenario()))
    assert_queue_state(broker, task_queue, (0, 0))


@pytest.mark.parametrize("client", CLIENTS)
def test_program_worker_killed_mid_task_task_is_redelivered(broker, declared, programs, uniq, client):
    """The tutorial's point about acks: kill a worker while it works and another one gets the task."""
    task_queue = declared.queue(uniq("task_queue"))
    module = {"pika": pika_2_work_queues, "aio": aio_2_work_queues}[client]
    long_task = "A long task" + "." * 30

    doomed = programs(f"{client}_2_work_queues.py", broker.url, "worker", "--queue", task_queue,
                      "--seconds-per-dot", "1", "--timeout", "60")
    doomed.wait_for(" [*] Waiting for messages")
    programs(f"{client}_2_work_queues.py", broker.url, "new_task", "--queue", task_queue, long_task).finish()
    doomed.wait_for(f" [x] Received {long_task}")
    doomed.kill()

    if client == "pika":
        done = module.worker(broker.pika_params(), queue=task_queue, seconds_per_dot=0.01, count=1, timeout=WAIT)
    else:
        done = run_async(module.worker(broker.url, queue=task_queue, seconds_per_dot=0.01, count=1, timeout=WAIT))
    assert done == [module.Task(long_task, 2, True)]
    assert_queue_state(broker, task_queue, (0, 0))


# ---------------------------------------------------------------------------------------------------
# 3. Publish/Subscribe: fanout "logs", exclusive server-named queues


def test_pika_publish_subscribe(broker, declared, uniq):
    params = broker.pika_params()
    logs = declared.exchange(uniq("logs"))

    pika_3_publish_subscribe.emit_log(params, "info: nobody is listening yet", exchange=logs)

    receivers = [Background(pika_3_publish_subscribe.receive_logs, params, exchange=logs, count=len(LOGS),
                            timeout=WAIT) for _ in range(2)]
    queue_names = [receiver.wait_ready() for receiver in receivers]
    assert len(set(queue_names)) == 2
    assert all(name.startswith("amq.gen-") for name in queue_names), queue_names

    pika_3_publish_subscribe.emit_log(params, *LOGS, exchange=logs)

    for receiver in receivers:
        assert receiver.result() == LOGS
    for name in queue_names:
        wait_queue_gone(broker, name)


def test_aio_publish_subscribe(broker, declared, uniq):
    logs = declared.exchange(uniq("logs"))

    async def scenario():
        await aio_3_publish_subscribe.emit_log(broker.url, "info: nobody is listening yet", exchange=logs)
        receivers, names = [], []
        for _ in range(2):
            task, name = await started(aio_3_publish_subscribe.receive_logs, broker.url, exchange=logs,
                                       count=len(LOGS), timeout=WAIT)
            receivers.append(task)
            names.append(name)
        await aio_3_publish_subscribe.emit_log(broker.url, *LOGS, exchange=logs)
        return [await finished(task) for task in receivers], names

    results, queue_names = run_async(scenario())
    assert results == [LOGS, LOGS]
    assert len(set(queue_names)) == 2
    assert all(name.startswith("amq.gen-") for name in queue_names), queue_names
    for name in queue_names:
        wait_queue_gone(broker, name)


@pytest.mark.parametrize("client", CLIENTS)
def test_program_publish_subscribe(broker, declared, programs, uniq, client):
    logs = declared.exchange(uniq("logs"))
    script = f"{client}_3_publish_subscribe.py"

    receivers = [programs(script, broker.url, "receive_logs", "--exchange", logs, "--count", str(len(LOGS)),
                          "--timeout", str(WAIT)) for _ in range(2)]
    for receiver in receivers:
        receiver.wait_for(" [*] Waiting for logs")
    for log in LOGS:
        programs(script, broker.url, "emit_log", "--exchange", logs, *log.split()).finish()

    for receiver in receivers:
        assert sorted(printed(receiver.finish(), " [x] ")) == sorted(LOGS)


# ---------------------------------------------------------------------------------------------------
# 4. Routing: direct "direct_logs" with severities


def test_pika_routing(broker, declared, uniq):
    params = broker.pika_params()
    direct_logs = declared.exchange(uniq("direct_logs"))

    receivers = {
        who: Background(pika_4_routing.receive_logs_direct, params, severities, exchange=direct_logs,
                        count=len(expected), timeout=WAIT)
        for who, (severities, expected) in ROUTING_SUBSCRIPTIONS.items()
    }
    for receiver in receivers.values():
        receiver.wait_ready()
    pika_4_routing.emit_log_direct(params, *ROUTING_LOGS, exchange=direct_logs)

    for who, (_, expected) in ROUTING_SUBSCRIPTIONS.items():
        assert receivers[who].result() == expected, who


def test_aio_routing(broker, declared, uniq):
    direct_logs = declared.exchange(uniq("direct_logs"))

    async def scenario():
        receivers = {}
        for who, (severities, expected) in ROUTING_SUBSCRIPTIONS.items():
            receivers[who], _ = await started(aio_4_routing.receive_logs_direct, broker.url, severities,
                                              exchange=direct_logs, count=len(expected), timeout=WAIT)
        await aio_4_routing.emit_log_direct(broker.url, *ROUTING_LOGS, exchange=direct_logs)
        return {who: await finished(task) for who, task in receivers.items()}

    results = run_async(scenario())
    for who, (_, expected) in ROUTING_SUBSCRIPTIONS.items():
        assert results[who] == expected, who


def test_cross_client_routing(broker, declared, uniq):
    """pika emits, a pika and an aio-pika receiver listen to the same direct exchange at the same time."""
    direct_logs = declared.exchange(uniq("direct_logs"))
    severities, expected = ROUTING_SUBSCRIPTIONS["warnings and errors"]

    receivers = [
        Background(pika_4_routing.receive_logs_direct, broker.pika_params(), severities, exchange=direct_logs,
                   count=len(expected), timeout=WAIT),
        Background(in_thread(aio_4_routing.receive_logs_direct), broker.url, severities, exchange=direct_logs,
                   count=len(expected), timeout=WAIT),
    ]
    for receiver in receivers:
        receiver.wait_ready()
    run_async(aio_4_routing.emit_log_direct(broker.url, *ROUTING_LOGS[:3], exchange=direct_logs))
    pika_4_routing.emit_log_direct(broker.pika_params(), *ROUTING_LOGS[3:], exchange=direct_logs)

    for receiver in receivers:
        assert receiver.result() == expected


# ---------------------------------------------------------------------------------------------------
# 5. Topics: "topic_logs" with "*" and "#" patterns


def run_pika_topics(broker, exchange, subscriptions, logs):
    params = broker.pika_params()
    receivers = {
        who: Background(pika_5_topics.receive_logs_topic, params, binding_keys, exchange=exchange,
                        count=len(expected), timeout=WAIT)
        for who, (binding_keys, expected) in subscriptions.items()
    }
    for receiver in receivers.values():
        receiver.wait_ready()
    pika_5_topics.emit_log_topic(params, *logs, exchange=exchange)
    return {who: receiver.result() for who, receiver in receivers.items()}


def run_aio_topics(broker, exchange, subscriptions, logs):
    async def scenario():
        receivers = {}
        for who, (binding_keys, expected) in subscriptions.items():
            receivers[who], _ = await started(aio_5_topics.receive_logs_topic, broker.url, binding_keys,
                                              exchange=exchange, count=len(expected), timeout=WAIT)
        await aio_5_topics.emit_log_topic(broker.url, *logs, exchange=exchange)
        return {who: await finished(task) for who, task in receivers.items()}

    return run_async(scenario())


@pytest.mark.parametrize(("subscriptions", "logs"), [(TOPIC_SUBSCRIPTIONS, TOPIC_LOGS),
                                                     (ANIMAL_SUBSCRIPTIONS, ANIMAL_LOGS)],
                         ids=["facility-and-severity", "tutorial-animals"])
@pytest.mark.parametrize("client", CLIENTS)
def test_topics(broker, declared, uniq, client, subscriptions, logs):
    topic_logs = declared.exchange(uniq("topic_logs"))
    run = {"pika": run_pika_topics, "aio": run_aio_topics}[client]

    results = run(broker, topic_logs, subscriptions, logs)

    for who, (_, expected) in subscriptions.items():
        assert results[who] == expected, who


@pytest.mark.parametrize("client", CLIENTS)
def test_program_topics(broker, declared, programs, uniq, client):
    topic_logs = declared.exchange(uniq("topic_logs"))
    script = f"{client}_5_topics.py"

    receivers = {
        who: programs(script, broker.url, "receive_logs_topic", "--exchange", topic_logs,
                      "--count", str(len(expected)), "--timeout", str(WAIT), *binding_keys)
        for who, (binding_keys, expected) in TOPIC_SUBSCRIPTIONS.items()
    }
    for receiver in receivers.values():
        receiver.wait_for(" [*] Waiting for logs")
    for routing_key, message in TOPIC_LOGS:
        programs(script, broker.url, "emit_log_topic", "--exchange", topic_logs, routing_key,
                 *message.split()).finish()

    for who, (_, expected) in TOPIC_SUBSCRIPTIONS.items():
        # One emitter process per log: the order between connections is not guaranteed.
        assert sorted(printed_logs(receivers[who].finish())) == sorted(expected), who


# ---------------------------------------------------------------------------------------------------
# 6. RPC: fibonacci server and client, reply_to + correlation_id, exclusive callback queue


def test_pika_rpc(broker, declared, uniq):
    params = broker.pika_params()
    rpc_queue = declared.queue(uniq("rpc_queue"))
    stop = threading.Event()

    servers = [Background(pika_6_rpc.rpc_server, params, queue=rpc_queue, stop=stop, timeout=WAIT)
               for _ in range(2)]
    for server in servers:
        server.wait_ready()
    clients = [Background(pika_6_rpc.rpc_client, params, *RPC_NUMBERS, queue=rpc_queue, timeout=WAIT,
                          ready=False) for _ in range(2)]

    for client in clients:
        assert client.result() == [FIB[n] for n in RPC_NUMBERS]
    stop.set()
    served = [n for server in servers for n in server.result()]
    assert sorted(served) == sorted(RPC_NUMBERS * 2)
    assert_queue_state(broker, rpc_queue, (0, 0))


def test_pika_rpc_callback_queue_and_correlation_id(broker, declared, uniq):
    params = broker.pika_params()
    rpc_queue = declared.queue(uniq("rpc_queue"))

    server = Background(pika_6_rpc.rpc_server, params, queue=rpc_queue, max_requests=1, timeout=WAIT)
    server.wait_ready()
    client = pika_6_rpc.FibonacciRpcClient(params, queue=rpc_queue, timeout=WAIT)
    try:
        callback_queue = client.callback_queue
        assert callback_queue.startswith("amq.gen-")
        # The callback queue is exclusive to the client's connection ...
        expect_channel_error(broker, 405, lambda ch: ch.basic_consume(callback_queue, lambda *a: None))
        # ... but anyone may publish to it; an answer with a foreign correlation id is ignored.
        stranger = pika.BlockingConnection(params)
        stranger.channel().basic_publish(
            exchange="", routing_key=callback_queue, body="-1",
            properties=pika.BasicProperties(correlation_id="not-a-request-of-mine"))
        stranger.close()

        assert client.call(10) == 55
        assert client.ignored == [("not-a-request-of-mine", b"-1")]
    finally:
        client.close()
    assert server.result() == [10]
    wait_queue_gone(broker, callback_queue)


def test_pika_rpc_select_connection_client(broker, declared, uniq):
    params = broker.pika_params()
    rpc_queue = declared.queue(uniq("rpc_queue"))
    stop = threading.Event()

    servers = [Background(pika_6_rpc.rpc_server, params, queue=rpc_queue, stop=stop, timeout=WAIT)
               for _ in range(2)]
    for server in servers:
        server.wait_ready()

    client = pika_6_rpc.SelectFibonacciRpcClient(params, RPC_NUMBERS, queue=rpc_queue, timeout=WAIT)
    assert client.run() == [FIB[n] for n in RPC_NUMBERS]
    assert client.callback_queue.startswith("amq.gen-")

    stop.set()
    served = [n for server in servers for n in server.result()]
    assert sorted(served) == sorted(RPC_NUMBERS)
    wait_queue_gone(broker, client.callback_queue)


def test_aio_rpc(broker, declared, uniq):
    rpc_queue = declared.queue(uniq("rpc_queue"))

    async def scenario():
        stop = asyncio.Event()
        servers = [(await started(aio_6_rpc.rpc_server, broker.url, queue=rpc_queue, stop=stop,
                                  timeout=WAIT))[0] for _ in range(2)]
        answers = await asyncio.gather(
            *(aio_6_rpc.rpc_client(broker.url, *RPC_NUMBERS, queue=rpc_queue, timeout=WAIT) for _ in range(2)))
        stop.set()
        served = [n for server in servers for n in await finished(server)]
        return answers, served

    answers, served = run_async(scenario())
    assert answers == [[FIB[n] for n in RPC_NUMBERS]] * 2
    assert sorted(served) == sorted(RPC_NUMBERS * 2)
    assert_queue_state(broker, rpc_queue, (0, 0))


def test_aio_rpc_callback_queue_and_correlation_id(broker, declared, uniq):
    rpc_queue = declared.queue(uniq("rpc_queue"))

    async def scenario():
        server, _ = await started(aio_6_rpc.rpc_server, broker.url, queue=rpc_queue, max_requests=1, timeout=WAIT)
        client = await aio_6_rpc.FibonacciRpcClient(broker.url, queue=rpc_queue, timeout=WAIT).connect()
        try:
            callback_queue = client.callback_queue.name
            await asyncio.to_thread(
                expect_channel_error, broker, 405, lambda ch: ch.basic_consume(callback_queue, lambda *a: None))
            stranger = await aio_pika.connect(broker.url)
            async with stranger:
                channel = await stranger.channel()
                await channel.default_exchange.publish(
                    aio_pika.Message(b"-1", correlation_id="not-a-request-of-mine"), routing_key=callback_queue)
            answer = await client.call(10)
            ignored = list(client.ignored)
        finally:
            await client.close()
        return answer, ignored, callback_queue, await finished(server)

    answer, ignored, callback_queue, served = run_async(scenario())
    assert answer == 55
    assert ignored == [("not-a-request-of-mine", b"-1")]
    assert callback_queue.startswith("amq.gen-")
    assert served == [10]
    wait_queue_gone(broker, callback_queue)


def test_cross_client_rpc_aio_client_pika_server(broker, declared, uniq):
    rpc_queue = declared.queue(uniq("rpc_queue"))
    server = Background(pika_6_rpc.rpc_server, broker.pika_params(), queue=rpc_queue,
                        max_requests=len(RPC_NUMBERS), timeout=WAIT)
    server.wait_ready()

    answers = run_async(aio_6_rpc.rpc_client(broker.url, *RPC_NUMBERS, queue=rpc_queue, timeout=WAIT))

    assert answers == [FIB[n] for n in RPC_NUMBERS]
    assert sorted(server.result()) == sorted(RPC_NUMBERS)


def test_cross_client_rpc_pika_clients_aio_server(broker, declared, uniq):
    rpc_queue = declared.queue(uniq("rpc_queue"))
    server = Background(in_thread(aio_6_rpc.rpc_server), broker.url, queue=rpc_queue,
                        max_requests=2 * len(RPC_NUMBERS), timeout=WAIT)
    server.wait_ready()

    blocking = Background(pika_6_rpc.rpc_client, broker.pika_params(), *RPC_NUMBERS, queue=rpc_queue,
                          timeout=WAIT, ready=False)
    selecting = pika_6_rpc.rpc_client_select(broker.pika_params(), *RPC_NUMBERS, queue=rpc_queue, timeout=WAIT)

    assert selecting == [FIB[n] for n in RPC_NUMBERS]
    assert blocking.result() == [FIB[n] for n in RPC_NUMBERS]
    assert sorted(server.result()) == sorted(RPC_NUMBERS * 2)


@pytest.mark.parametrize("client", CLIENTS)
def test_program_rpc(broker, declared, programs, uniq, client):
    rpc_queue = declared.queue(uniq("rpc_queue"))
    script = f"{client}_6_rpc.py"
    numbers = ["5", "10", "20"]

    server = programs(script, broker.url, "rpc_server", "--queue", rpc_queue, "--max-requests", "6",
                      "--timeout", str(WAIT))
    server.wait_for(" [x] Awaiting RPC requests")
    clients = [programs(script, broker.url, "rpc_client", "--queue", rpc_queue, *numbers)]
    if client == "pika":
        clients.append(programs(script, broker.url, "rpc_client", "--select", "--queue", rpc_queue, *numbers))
    else:
        clients.append(programs(script, broker.url, "rpc_client", "--queue", rpc_queue, *numbers))

    for program in clients:
        lines = program.finish()
        assert printed(lines, " [x] Requesting ") == [f"fib({n})" for n in numbers]
        assert printed(lines, " [.] Got ") == ["5", "55", "6765"]
    assert sorted(printed(server.finish(), " [.] ")) == sorted([f"fib({n})" for n in numbers] * 2)
