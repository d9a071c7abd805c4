"""RabbitMQ's six Python tutorials as small programs, one file per tutorial per client.

``pika_N_*.py`` use pika (BlockingConnection; tutorial 6 also has a SelectConnection RPC client) and
``aio_N_*.py`` use aio-pika. Every program keeps the structure of the tutorial it follows (same
declarations, same exchange types, same acknowledgement modes) but takes the broker URL as its first
argument, accepts a different exchange/queue name so runs on a shared broker do not collide, and
always ends by itself: consumers stop after ``--count`` messages or after ``--timeout`` seconds.

Each file can be imported (the functions take a URL, or for pika also ``pika.ConnectionParameters``)
or run as a program::

    python pika_5_topics.py amqp://guest:guest@127.0.0.1:5672/%2F receive_logs_topic --count 2 "kern.*"
    python pika_5_topics.py amqp://guest:guest@127.0.0.1:5672/%2F emit_log_topic kern.critical A critical error

Consumers print a ``[*] Waiting ...`` (or ``[x] Awaiting RPC requests``) line once they are bound and
consuming, which is what a test waits for before it starts the producer.
"""
