"""Request-by-request comparison of a broker's management HTTP API with RabbitMQ 3.10's recorded
answers (see README.md)."""
