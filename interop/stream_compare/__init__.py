"""RabbitMQ 3.10 streams over AMQP 0-9-1 (x-queue-type: stream), step by step: a raw-frame scenario
recorded from RabbitMQ (tests/fixtures/rabbitmq-3.10/streams/amqp.json) and compared with another
broker's run (see README.md)."""
