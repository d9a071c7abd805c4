"""`amqpctl`: rabbitmqctl / rabbitmq-diagnostics for amqpd.

The client (main.py) parses the command line, prints banners and formats answers as rabbitmqctl 3.10 does;
the broker side (endpoint.py) runs each command through the operations layer. Both halves of a command live
together in one module per command group under commands/, so its arguments, its texts and what it does
are read in one place. See docs/cli.md.
"""
