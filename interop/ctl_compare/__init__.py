"""amqpctl compared with rabbitmqctl / rabbitmq-diagnostics 3.10 command by command (see README.md)."""
