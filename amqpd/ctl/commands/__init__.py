"""amqpctl's commands, one module per group; each command's client and broker halves side by side."""
