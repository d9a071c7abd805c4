"""Errors of the operations layer that are not AMQP channel or connection errors. Each front end turns
them into its own answer: an HTTP status and RabbitMQ's error body, a CLI exit code, a refused import."""

from __future__ import annotations

from typing import Any


class OpError(Exception):
    status = 400
    error = "bad_request"

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason


class BadRequest(OpError):
    pass


class NotFound(OpError):
    status = 404
    error = "not_found"


class Missing(OpError):
    """A referenced object does not exist, reported as RabbitMQ does for that request (404 not_found
    with a reason such as vhost_not_found, unlike NotFound's "Object Not Found")."""

    status = 404
    error = "not_found"


class Refused(OpError):
    """The change is valid but not allowed now (e.g. a limit)."""

    status = 400
