"""AMQP errors as values with a scope.

A ChannelError closes only the channel it happened on; a ConnectionError closes the whole connection.
Both carry the class/method id of the offending method so the close frame names it, as RabbitMQ does.
"""

from __future__ import annotations

import enum


class ReplyCode(enum.IntEnum):
    REPLY_SUCCESS = 200
    CONTENT_TOO_LARGE = 311
    NO_ROUTE = 312
    NO_CONSUMERS = 313
    CONNECTION_FORCED = 320
    INVALID_PATH = 402
    ACCESS_REFUSED = 403
    NOT_FOUND = 404
    RESOURCE_LOCKED = 405
    PRECONDITION_FAILED = 406
    FRAME_ERROR = 501
    SYNTAX_ERROR = 502
    COMMAND_INVALID = 503
    CHANNEL_ERROR = 504
    UNEXPECTED_FRAME = 505
    RESOURCE_ERROR = 506
    NOT_ALLOWED = 530
    NOT_IMPLEMENTED = 540
    INTERNAL_ERROR = 541


class AMQPError(Exception):
    """Base of errors that map onto an AMQP close."""

    def __init__(self, reply_code: int, text: str, class_id: int = 0, method_id: int = 0) -> None:
        super().__init__(text)
        self.reply_code = int(reply_code)
        self.text = text
        self.class_id = class_id
        self.method_id = method_id

    @property
    def reply_text(self) -> str:
        # RabbitMQ prefixes the text with the symbolic name of the code.
        try:
            name = ReplyCode(self.reply_code).name
        except ValueError:
            name = "ERROR"
        text = f"{name} - {self.text}"
        return text.encode("utf-8")[:255].decode("utf-8", "ignore")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reply_code}, {self.text!r}, {self.class_id}, {self.method_id})"


class ChannelError(AMQPError):
    """Closes the channel: 403, 404, 405, 406 and friends."""


class ConnectionError(AMQPError):  # noqa: A001 - the AMQP name is the clearest one here
    """Closes the connection: 320, 501-506, 530, 540, 541."""


def precondition_failed(text: str) -> ChannelError:
    return ChannelError(ReplyCode.PRECONDITION_FAILED, text)


def not_found(text: str) -> ChannelError:
    return ChannelError(ReplyCode.NOT_FOUND, text)


def access_refused(text: str) -> ChannelError:
    return ChannelError(ReplyCode.ACCESS_REFUSED, text)


def resource_locked(text: str) -> ChannelError:
    return ChannelError(ReplyCode.RESOURCE_LOCKED, text)
