"""Users, RabbitMQ's password hashes, permissions and SASL mechanisms."""

from .passwords import DEFAULT_ALGORITHM, HashError, check_password, hash_password
from .permissions import AccessControl, Permission, TopicPermission, VhostAccess
from .sasl import MECHANISMS, SASLError, parse_response
from .users import KNOWN_TAGS, USER_LIMITS, User, parse_tags

__all__ = [
    "DEFAULT_ALGORITHM", "HashError", "check_password", "hash_password", "AccessControl", "Permission",
    "TopicPermission", "VhostAccess", "MECHANISMS", "SASLError", "parse_response", "KNOWN_TAGS", "USER_LIMITS",
    "User", "parse_tags",
]
