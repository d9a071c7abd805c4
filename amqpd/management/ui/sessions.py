"""UI sessions: random tokens in an HttpOnly cookie, mapped to a user name, expiring when idle.

Bounded: at most MAX_SESSIONS live sessions (the oldest goes first), so logins cannot grow memory
without limit. A session names a user; the user is looked up again on every request, so deleting a user
or removing their management tags ends what their session may do at once."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict

from aiohttp import web

COOKIE = "amqpd_session"
IDLE_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000


class SessionStore:
    def __init__(self, idle_seconds: float = IDLE_SECONDS, max_sessions: int = MAX_SESSIONS) -> None:
        self.idle = idle_seconds
        self.max = max_sessions
        self._sessions: OrderedDict[str, tuple[str, float]] = OrderedDict()  # token -> (user, last use)

    def create(self, user: str) -> str:
        token = secrets.token_urlsafe(32)
        self._sessions[token] = (user, time.monotonic())
        while len(self._sessions) > self.max:
            self._sessions.popitem(last=False)
        return token

    def user_for(self, token: str | None) -> str | None:
        """The session's user, or None (unknown or idle too long); a use keeps it alive."""
        if not token:
            return None
        found = self._sessions.get(token)
        if found is None:
            return None
        user, last = found
        now = time.monotonic()
        if now - last > self.idle:
            del self._sessions[token]
            return None
        self._sessions[token] = (user, now)
        self._sessions.move_to_end(token)
        return user

    def end(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)

    def end_user(self, user: str) -> None:
        for token in [t for t, (u, _) in self._sessions.items() if u == user]:
            del self._sessions[token]


SESSIONS = web.AppKey("sessions", SessionStore)
