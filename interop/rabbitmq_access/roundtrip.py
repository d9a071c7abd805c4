"""Definitions round trip between amqpd and RabbitMQ 3.10, recorded as fixtures.

    python interop/rabbitmq_access/roundtrip.py

1. a fresh amqpd loads tests/fixtures/rabbitmq-3.10/definitions.json (RabbitMQ's own export) and exports
   its definitions -> roundtrip/amqpd-export.json;
2. our vhosts and users are deleted from RabbitMQ (127.0.0.1:15672) and amqpd's export is imported there;
   RabbitMQ's export of the result -> roundtrip/rabbitmq-reexport.json;
3. RabbitMQ is put back in the fixture's state.

tests/integration/test_definitions_roundtrip.py then imports rabbitmq-reexport.json into amqpd and checks
that amqpd's export gives the same state as amqpd-export.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(HERE))

import setup_rabbitmq  # noqa: E402
from conftest import start_amqpd  # noqa: E402
from mgmt_helpers import Api  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "rabbitmq-3.10"
OUT = FIXTURES / "roundtrip"


def write(name: str, doc: dict) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / name).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print("wrote", OUT / name)


def main() -> int:
    broker = start_amqpd(Path(tempfile.mkdtemp(prefix="roundtrip-")),
                         conf=f"load_definitions = {FIXTURES / 'definitions.json'}\n")
    try:
        amqpd_export = Api(broker.http_port).ok("GET", "/definitions")
    finally:
        broker.stop()
    write("amqpd-export.json", amqpd_export)
    setup_rabbitmq.reset()
    try:
        setup_rabbitmq.call("POST", "/definitions", raw=json.dumps(amqpd_export).encode())
        _, reexport = setup_rabbitmq.call("GET", "/definitions")
        write("rabbitmq-reexport.json", setup_rabbitmq._sorted(setup_rabbitmq.owned(reexport)))
    finally:
        setup_rabbitmq.reset()
        setup_rabbitmq.load_fixture()
    return 0


if __name__ == "__main__":
    sys.exit(main())
