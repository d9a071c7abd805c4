"""Record RabbitMQ's message statistics for tests/integration/stats_scenario.py in
tests/fixtures/rabbitmq-3.10/stats_shapes.json (the answers of /api/overview, the queue, the exchange,
the vhost, /api/channels, /api/connections and /api/nodes once a statistics interval has passed).

Usage (RabbitMQ from ../shared/tools/rabbitmq-up.sh on 127.0.0.1:5672, management :15672, no other
clients):
    python interop/rabbitmq_access/record_stats.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(HERE))

import stats_scenario  # noqa: E402
from setup_rabbitmq import FIXTURES, call  # noqa: E402


def main() -> int:
    conn = stats_scenario.run("127.0.0.1", 5672)
    time.sleep(6)  # one collect_statistics_interval (5 s) later
    out = {key: call("GET", path)[1] for key, path in stats_scenario.PATHS.items()}
    stats_scenario.cleanup(conn)
    (FIXTURES / "stats_shapes.json").write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", FIXTURES / "stats_shapes.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
