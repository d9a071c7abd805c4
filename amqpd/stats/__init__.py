"""Message statistics: counters in the hot path, rates from a sampler, views in RabbitMQ's shapes.

The hot path only adds to plain int attributes of the objects it already holds (channel, queue,
exchange, connection): a few attribute increments per message, no events, no locks, nothing that grows
with load. Everything else happens off the hot path:

- counters.py reads those attributes into tuples (one field order per object kind) and keeps what
  closed channels and deleted vhosts counted, so node and vhost totals never go backwards;
- sampler.py reads them every ``collect_statistics_interval`` ms and turns differences into rates
  (and a bounded history for the node);
- views.py renders them as the management API's ``message_stats``, ``*_details`` and churn rates; the
  Prometheus exposition (management/prometheus/) reads the same counters.
"""

from .counters import (
    CHANNEL_FIELDS,
    EXCHANGE_FIELDS,
    QUEUE_FIELDS,
    NodeStats,
    VhostCounters,
    channel_counts,
    exchange_counts,
    queue_counts,
)

__all__ = ["CHANNEL_FIELDS", "EXCHANGE_FIELDS", "QUEUE_FIELDS", "NodeStats", "VhostCounters",
           "channel_counts", "exchange_counts", "queue_counts"]
