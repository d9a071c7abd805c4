"""RabbitMQ 3.10's management HTTP API: one module per resource, RabbitMQ's paths, JSON shapes, status
codes and error bodies."""
