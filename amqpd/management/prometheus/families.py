"""RabbitMQ 3.10's metric families: names, types, help texts and labels, as rabbitmq_prometheus serves them.

Names, types and help texts are RabbitMQ's (tests compare them with answers recorded from RabbitMQ
3.10.8). A family is what /metrics/detailed?family=<id> selects; its metrics are listed in RabbitMQ's
order. Metrics RabbitMQ has and amqpd cannot fill honestly are left out rather than sent as zeros:
Erlang process reductions and process memory, raft, mnesia, the file handle cache's io_* counters,
and per-queue content breakdowns (RAM/persistent/paged-out counts, unacknowledged bytes, head
timestamp) that would need a walk over every message at each scrape. docs/prometheus.md lists them.

Labels are RabbitMQ's where amqpd has the value. Where RabbitMQ splits a count by something amqpd does
not count by (channel x exchange, channel x queue, channel x queue x exchange), the family keeps the
labels amqpd can fill and drops the others. RabbitMQ 3.10 labels connection metrics `channel` (with the
connection's process id); amqpd keeps that label name, with the connection's name as its value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

G, C, U = "gauge", "counter", "untyped"
Metric = tuple[str, str, str]  # (name after the prefix, type, help)


@dataclass(frozen=True)
class Family:
    id: str
    metrics: tuple[Metric, ...]
    labels: tuple[str, ...] = ()
    per_object: bool = False  # one row per queue/channel/connection; /metrics sums them
    vhost_filtered: bool = False  # /metrics/detailed?vhost= applies
    cluster: bool = False  # named rabbitmq_<metric> in /metrics/detailed, not rabbitmq_detailed_<metric>
    # no sample in the aggregated /metrics (RabbitMQ does not sum these)
    not_summed: frozenset[str] = field(default_factory=frozenset)


CONNECTION_CHURN = Family("connection_churn_metrics", (
    ("connections_opened_total", C, "Total number of connections opened"),
    ("connections_closed_total", C, "Total number of connections closed or terminated"),
    ("channels_opened_total", C, "Total number of channels opened"),
    ("channels_closed_total", C, "Total number of channels closed"),
    ("queues_declared_total", C, "Total number of queues declared"),
    ("queues_created_total", C, "Total number of queues created"),
    ("queues_deleted_total", C, "Total number of queues deleted"),
))

NODE_COARSE = Family("node_coarse_metrics", (
    ("process_open_fds", G, "Open file descriptors"),
    ("process_open_tcp_sockets", G, "Open TCP sockets"),
    ("process_resident_memory_bytes", G, "Memory used in bytes"),
    ("disk_space_available_bytes", G, "Disk space available in bytes"),
    ("erlang_processes_used", G, "Erlang processes used"),
    ("erlang_gc_runs_total", C, "Total number of Erlang garbage collector runs"),
    ("erlang_scheduler_context_switches_total", C, "Total number of Erlang scheduler context switches"),
))

NODE = Family("node_metrics", (
    ("process_max_fds", G, "Open file descriptors limit"),
    ("process_max_tcp_sockets", G, "Open TCP sockets limit"),
    ("resident_memory_limit_bytes", G, "Memory high watermark in bytes"),
    ("disk_space_available_limit_bytes", G, "Free disk space low watermark in bytes"),
    ("erlang_processes_limit", G, "Erlang processes limit"),
    ("erlang_scheduler_run_queue", G, "Erlang scheduler run queue"),
    ("erlang_net_ticktime_seconds", G, "Inter-node heartbeat interval"),
    ("erlang_uptime_seconds", G, "Node uptime"),
))

NODE_PERSISTER = Family("node_persister_metrics", (
    ("msg_store_read_total", C, "Total number of Message Store read operations"),
    ("msg_store_write_total", C, "Total number of Message Store write operations"),
))

AUTH = Family("auth_attempt_metrics", (
    ("auth_attempts_total", C, "Total number of authorization attempts"),
    ("auth_attempts_succeeded_total", C, "Total number of successful authentication attempts"),
    ("auth_attempts_failed_total", C, "Total number of failed authentication attempts"),
), labels=("protocol",))

# RabbitMQ fills these only with auth_attempts_detailed enabled; amqpd does not keep them per source
AUTH_DETAILED = Family("auth_attempt_detailed_metrics", (
    ("auth_attempts_detailed_total", C, "Total number of authorization attempts with source info"),
    ("auth_attempts_detailed_succeeded_total", C,
     "Total number of successful authorization attempts with source info"),
    ("auth_attempts_detailed_failed_total", C, "Total number of failed authorization attempts with source info"),
), labels=("remote_address", "username", "protocol"))

QUEUE_COARSE = Family("queue_coarse_metrics", (
    ("queue_messages_ready", G, "Messages ready to be delivered to consumers"),
    ("queue_messages_unacked", G, "Messages delivered to consumers but not yet acknowledged"),
    ("queue_messages", G, "Sum of ready and unacknowledged messages - total queue depth"),
), labels=("vhost", "queue"), per_object=True, vhost_filtered=True)

QUEUE = Family("queue_metrics", (
    ("queue_consumers", G, "Consumers on a queue"),
    ("queue_consumer_capacity", G, "Consumer capacity"),
    ("queue_consumer_utilisation", G, "Same as consumer capacity"),
    ("queue_messages_ready_bytes", G, "Size in bytes of ready messages"),
    # as of the last statistics sample (amqpd/stats/contents.py), like RabbitMQ's own
    ("queue_messages_ram", G, "Ready and unacknowledged messages stored in memory"),
    ("queue_messages_ram_bytes", G, "Size of ready and unacknowledged messages stored in memory"),
    ("queue_messages_ready_ram", G, "Ready messages stored in memory"),
    ("queue_messages_unacked_ram", G, "Unacknowledged messages stored in memory"),
    ("queue_messages_persistent", G, "Persistent messages"),
    ("queue_messages_persistent_bytes", G, "Size in bytes of persistent messages"),
    ("queue_messages_bytes", G, "Size in bytes of ready and unacknowledged messages"),
    ("queue_messages_unacked_bytes", G, "Size in bytes of all unacknowledged messages"),
    ("queue_messages_paged_out", G, "Messages paged out to disk"),
    ("queue_messages_paged_out_bytes", G, "Size in bytes of messages paged out to disk"),
    ("queue_head_message_timestamp", G, "Timestamp of the first message in the queue, if any"),
), labels=("vhost", "queue"), per_object=True, vhost_filtered=True,
    not_summed=frozenset({"queue_consumer_capacity", "queue_head_message_timestamp"}))

QUEUE_CONSUMER_COUNT = Family("queue_consumer_count", (
    ("queue_consumers", G, "Consumers on a queue"),
), labels=("vhost", "queue"), per_object=True, vhost_filtered=True)

CHANNEL = Family("channel_metrics", (
    ("channel_consumers", G, "Consumers on a channel"),
    ("channel_messages_unacked", G, "Delivered but not yet acknowledged messages"),
    ("channel_messages_unconfirmed", G, "Published but not yet confirmed messages"),
    ("channel_messages_uncommitted", G, "Messages received in a transaction but not yet committed"),
    ("channel_acks_uncommitted", G, "Message acknowledgements in a transaction not yet committed"),
    ("consumer_prefetch", G, "Limit of unacknowledged messages for each consumer"),
    ("channel_prefetch", G, "Total limit of unacknowledged messages for all consumers on a channel"),
), labels=("channel",), per_object=True)

CHANNEL_EXCHANGE = Family("channel_exchange_metrics", (
    ("channel_messages_published_total", C, "Total number of messages published into an exchange on a channel"),
    ("channel_messages_confirmed_total", C,
     "Total number of messages published into an exchange and confirmed on the channel"),
    ("channel_messages_unroutable_returned_total", C,
     "Total number of messages published as mandatory into an exchange and returned to the publisher as "
     "unroutable"),
    ("channel_messages_unroutable_dropped_total", C,
     "Total number of messages published as non-mandatory into an exchange and dropped as unroutable"),
), labels=("channel", "vhost"), per_object=True)

CHANNEL_QUEUE = Family("channel_queue_metrics", (
    ("channel_get_ack_total", C, "Total number of messages fetched with basic.get in manual acknowledgement mode"),
    ("channel_get_total", C, "Total number of messages fetched with basic.get in automatic acknowledgement mode"),
    ("channel_messages_delivered_ack_total", C,
     "Total number of messages delivered to consumers in manual acknowledgement mode"),
    ("channel_messages_delivered_total", C,
     "Total number of messages delivered to consumers in automatic acknowledgement mode"),
    ("channel_messages_redelivered_total", C, "Total number of messages redelivered to consumers"),
    ("channel_messages_acked_total", C, "Total number of messages acknowledged by consumers"),
    ("channel_get_empty_total", C, "Total number of times basic.get operations fetched no message"),
), labels=("channel", "vhost"), per_object=True)

CONNECTION_COARSE = Family("connection_coarse_metrics", (
    ("connection_incoming_bytes_total", C, "Total number of bytes received on a connection"),
    ("connection_outgoing_bytes_total", C, "Total number of bytes sent on a connection"),
), labels=("channel",), per_object=True)

CONNECTION = Family("connection_metrics", (
    ("connection_incoming_packets_total", C, "Total number of packets received on a connection"),
    ("connection_outgoing_packets_total", C, "Total number of packets sent on a connection"),
    ("connection_pending_packets", G, "Number of packets waiting to be sent on a connection"),
    ("connection_channels", G, "Channels on a connection"),
), labels=("channel",), per_object=True)

CHANNEL_QUEUE_EXCHANGE = Family("channel_queue_exchange_metrics", (
    ("queue_messages_published_total", C, "Total number of messages published to queues"),
), labels=("queue_vhost", "queue"), per_object=True)

VHOST_STATUS = Family("vhost_status", (
    ("cluster_vhost_status", G, "Whether a given vhost is running"),
), labels=("vhost",), cluster=True)

EXCHANGE_BINDINGS = Family("exchange_bindings", (
    ("cluster_exchange_bindings", G, "Number of bindings for an exchange. This value is cluster-wide."),
), labels=("vhost", "exchange", "type"), vhost_filtered=True, cluster=True)

EXCHANGE_NAMES = Family("exchange_names", (
    ("cluster_exchange_name", G, "Enumerates exchanges without any additional info. This value is "
                                 "cluster-wide. A cheaper alternative to `exchange_bindings`"),
), labels=("vhost", "exchange", "type"), vhost_filtered=True, cluster=True)

# What /metrics and /metrics/per-object serve, in RabbitMQ's order.
CORE = (CONNECTION_CHURN, NODE_COARSE, NODE, NODE_PERSISTER, AUTH, QUEUE_COARSE, QUEUE, CHANNEL,
        CHANNEL_EXCHANGE, CHANNEL_QUEUE, CONNECTION_COARSE, CONNECTION, CHANNEL_QUEUE_EXCHANGE)

# What /metrics/detailed?family= offers, in the order RabbitMQ answers (whatever the query's order).
DETAILED = {f.id: f for f in (
    CONNECTION_CHURN, NODE_COARSE, NODE, NODE_PERSISTER, AUTH, AUTH_DETAILED, QUEUE_COARSE, QUEUE,
    QUEUE_CONSUMER_COUNT, CHANNEL, CHANNEL_EXCHANGE, CHANNEL_QUEUE, CONNECTION_COARSE, CONNECTION,
    CHANNEL_QUEUE_EXCHANGE, VHOST_STATUS, EXCHANGE_BINDINGS, EXCHANGE_NAMES)}

ALARMS: tuple[Metric, ...] = (
    ("alarms_file_descriptor_limit", U, "is 1 if file descriptor limit alarm is in effect"),
    ("alarms_free_disk_space_watermark", U, "is 1 if free disk space watermark alarm is in effect"),
    ("alarms_memory_used_watermark", U, "is 1 if VM memory watermark alarm is in effect"),
)

# amqpd's own, in the default registry after RabbitMQ's families
AMQPD: tuple[Metric, ...] = (
    ("store_write_errors_total", C, "Store writes that failed (full disk, read-only filesystem, I/O error); "
                                    "the disk alarm is on until the store takes writes again"),
)

# amqpd's own, one series per stream (labels vhost, queue), in the default registry
STREAMS: tuple[Metric, ...] = (
    ("stream_messages", G, "Records a stream holds"),
    ("stream_bytes", G, "Bytes of message bodies a stream holds"),
    ("stream_first_offset", G, "First offset a stream keeps (older ones were dropped by retention)"),
    ("stream_last_offset", G, "Last committed offset of a stream"),
    ("stream_segments", G, "Segments of a stream (retention drops whole segments)"),
    ("stream_readers", G, "Consumers reading a stream"),
    ("stream_reader_lag_max", G, "Records between the furthest-behind reader of a stream and its end"),
)

# amqpd's own, one series per queue with a history (labels vhost, queue), in the default registry
QUEUE_AGE: Metric = ("queue_oldest_ready_age_seconds", G,
                     "Age of the oldest ready message of a queue (consumer lag), at the resolution of its history")

OBJECT_TOTALS: tuple[Metric, ...] = (
    ("connections", G, "Connections currently open"),
    ("channels", G, "Channels currently open"),
    ("consumers", G, "Consumers currently connected"),
    ("queues", G, "Queues available"),
)

BUILD_INFO: Metric = ("build_info", U, "RabbitMQ & Erlang/OTP version info")
BUILD_INFO_LABELS = ("rabbitmq_version", "prometheus_plugin_version", "prometheus_client_version", "erlang_version")
IDENTITY_INFO: Metric = ("identity_info", U, "RabbitMQ node & cluster identity info")
IDENTITY_INFO_LABELS = ("rabbitmq_node", "rabbitmq_cluster", "rabbitmq_cluster_permanent_id")

# rabbit_global_counters: (metric, labels, rows); a row's label values, and the key of its value in
# collector.global_counts (None: always 0 in amqpd).
CLASSIC, QUORUM, STREAM = "rabbit_classic_queue", "rabbit_quorum_queue", "rabbit_stream_queue"
PROTOCOL = "amqp091"
_BY_PROTOCOL = ("protocol",)
_BY_QUEUE_TYPE = ("protocol", "queue_type")
_BY_STRATEGY = ("queue_type", "dead_letter_strategy")
GlobalRow = tuple[tuple[str, ...], "str | None"]


def _per_queue_type(key: str) -> tuple[GlobalRow, ...]:
    # amqpd counts deliveries per channel, not per queue type: every count is reported as classic's, so
    # the series stay monotonic when a quorum queue is deleted
    return (((PROTOCOL, CLASSIC), key), ((PROTOCOL, QUORUM), None), ((PROTOCOL, STREAM), None))


def _dead_lettered(reason: str, rows: tuple[tuple[str, str], ...], counted_as: tuple[str, str]) -> tuple[GlobalRow, ...]:
    return tuple((row, reason if row == counted_as else None) for row in rows)


_CLASSIC_STRATEGIES = ((CLASSIC, "at_most_once"), (CLASSIC, "disabled"))
_QUORUM_STRATEGIES = ((QUORUM, "at_least_once"), (QUORUM, "at_most_once"), (QUORUM, "disabled"))
# amqpd dead-letters only through a dead-letter exchange (at most once); a delivery limit exists only on
# quorum queues, every other reason is counted as classic's (the counts are not kept per queue type)
GLOBAL: tuple[tuple[Metric, tuple[str, ...], tuple[GlobalRow, ...]], ...] = (
    (("global_consumers", G, "Current number of consumers"), _BY_PROTOCOL, (((PROTOCOL,), "consumers"),)),
    (("global_messages_acknowledged_total", C, "Total number of messages acknowledged by consumers"),
     _BY_QUEUE_TYPE, _per_queue_type("ack")),
    (("global_messages_confirmed_total", C, "Total number of messages confirmed to publishers"),
     _BY_PROTOCOL, (((PROTOCOL,), "confirm"),)),
    (("global_messages_dead_lettered_confirmed_total", C,
      "Total number of messages dead-lettered and confirmed by target queues"),
     _BY_STRATEGY, (((QUORUM, "at_least_once"), None),)),
    (("global_messages_dead_lettered_delivery_limit_total", C,
      "Total number of messages dead-lettered due to delivery-limit exceeded"),
     _BY_STRATEGY, _dead_lettered("delivery_limit", _QUORUM_STRATEGIES, (QUORUM, "at_most_once"))),
    (("global_messages_dead_lettered_expired_total", C,
      "Total number of messages dead-lettered due to message TTL exceeded"),
     _BY_STRATEGY, _dead_lettered("expired", _CLASSIC_STRATEGIES + _QUORUM_STRATEGIES, (CLASSIC, "at_most_once"))),
    (("global_messages_dead_lettered_maxlen_total", C,
      "Total number of messages dead-lettered due to overflow drop-head or reject-publish-dlx"),
     _BY_STRATEGY, _dead_lettered("maxlen", _CLASSIC_STRATEGIES + _QUORUM_STRATEGIES[1:], (CLASSIC, "at_most_once"))),
    (("global_messages_dead_lettered_rejected_total", C,
      "Total number of messages dead-lettered due to basic.reject or basic.nack"),
     _BY_STRATEGY, _dead_lettered("rejected", _CLASSIC_STRATEGIES + _QUORUM_STRATEGIES, (CLASSIC, "at_most_once"))),
    (("global_messages_delivered_consume_auto_ack_total", C,
      "Total number of messages delivered to consumers using basic.consume with automatic acknowledgment"),
     _BY_QUEUE_TYPE, _per_queue_type("deliver_no_ack")),
    (("global_messages_delivered_consume_manual_ack_total", C,
      "Total number of messages delivered to consumers using basic.consume with manual acknowledgment"),
     _BY_QUEUE_TYPE, _per_queue_type("deliver")),
    (("global_messages_delivered_get_auto_ack_total", C,
      "Total number of messages delivered to consumers using basic.get with automatic acknowledgment"),
     _BY_QUEUE_TYPE, _per_queue_type("get_no_ack")),
    (("global_messages_delivered_get_manual_ack_total", C,
      "Total number of messages delivered to consumers using basic.get with manual acknowledgment"),
     _BY_QUEUE_TYPE, _per_queue_type("get")),
    (("global_messages_delivered_total", C, "Total number of messages delivered to consumers"),
     _BY_QUEUE_TYPE, _per_queue_type("delivered")),
    (("global_messages_get_empty_total", C, "Total number of times basic.get operations fetched no message"),
     _BY_QUEUE_TYPE, _per_queue_type("get_empty")),
    (("global_messages_received_confirm_total", C,
      "Total number of messages received from publishers expecting confirmations"),
     _BY_PROTOCOL, (((PROTOCOL,), "received_confirm"),)),
    (("global_messages_received_total", C, "Total number of messages received from publishers"),
     _BY_PROTOCOL, (((PROTOCOL,), "publish"),)),
    (("global_messages_redelivered_total", C, "Total number of messages redelivered to consumers"),
     _BY_QUEUE_TYPE, _per_queue_type("redeliver")),
    (("global_messages_routed_total", C, "Total number of messages routed to queues or streams"),
     _BY_PROTOCOL, (((PROTOCOL,), "routed"),)),
    (("global_messages_unroutable_dropped_total", C,
      "Total number of messages published as non-mandatory into an exchange and dropped as unroutable"),
     _BY_PROTOCOL, (((PROTOCOL,), "drop_unroutable"),)),
    (("global_messages_unroutable_returned_total", C,
      "Total number of messages published as mandatory into an exchange and returned to the publisher as "
      "unroutable"),
     _BY_PROTOCOL, (((PROTOCOL,), "return_unroutable"),)),
    (("global_publishers", G, "Current number of publishers"), _BY_PROTOCOL, (((PROTOCOL,), "publishers"),)),
)
