"""Scenario, part 1: vhosts, users, permissions, topic permissions, limits, parameters, policies, and what
each kind of user (no tags, management, monitoring, policymaker, administrator) may see and do."""

from __future__ import annotations

import base64
import hashlib

from .client import PASSWORDS
from .steps import DELETE, GET, POST, PUT

V = "cmp-main"
VT = "cmp-tmp"
VU = "cmp-ü space"                       # unicode and a space, percent-encoded in paths
VU_SEG = "cmp-%C3%BC%20space"
ALL = {"configure": ".*", "write": ".*", "read": ".*"}
USER_VALUES = ("name", "tags", "hashing_algorithm", "limits")
PERM_VALUES = ("user", "vhost", "configure", "write", "read")


def rabbit_hash(password: str, salt: bytes = b"\x90\x8d\xc6\x0a") -> str:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt + sha256(salt + password))."""
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def user_body(name: str, tags: object) -> dict:
    return {"password": PASSWORDS[name], "tags": tags}


VHOSTS = [
    GET("whoami", "/whoami", values=("name", "tags")),
    PUT("vhost.create", f"/vhosts/{V}"),
    PUT("vhost.update", f"/vhosts/{V}"),
    GET("vhost.get", f"/vhosts/{V}", values=("name", "description", "tags", "tracing")),
    GET("vhost.creator-permissions", f"/vhosts/{V}/permissions", values=("[].user", "[].configure")),
    PUT("vhost.create-described", f"/vhosts/{VT}", {"description": "temporary", "tags": "a,b"}),
    GET("vhost.get-described", f"/vhosts/{VT}", values=("name", "description", "tags")),
    PUT("vhost.tracing-on", f"/vhosts/{VT}", {"tracing": True}),
    GET("vhost.get-tracing", f"/vhosts/{VT}", values=("tracing", "description")),
    PUT("vhost.unicode", f"/vhosts/{VU_SEG}"),
    GET("vhost.unicode-get", f"/vhosts/{VU_SEG}", values=("name",)),
    GET("vhost.list", "/vhosts", own=True, values=("[].name", "[].tracing")),
    GET("vhost.list-columns", "/vhosts?columns=name,tracing", own=True, values=("[].name",)),
    GET("vhost.missing", "/vhosts/cmp-missing"),
    DELETE("vhost.delete", f"/vhosts/{VT}"),
    DELETE("vhost.delete-again", f"/vhosts/{VT}"),
    GET("vhost.deleted", f"/vhosts/{VT}"),
    PUT("vhost.bad-json", f"/vhosts/{VT}", raw=b"{nope"),
    GET("vhost.after-bad-json", f"/vhosts/{VT}"),
    PUT("vhost.tmp-again", f"/vhosts/{VT}"),
]

USERS = [
    PUT("user.create-admin", "/users/cmp-admin", user_body("cmp-admin", "administrator")),
    PUT("user.update-admin", "/users/cmp-admin", user_body("cmp-admin", "administrator")),
    PUT("user.create-mgmt", "/users/cmp-mgmt", user_body("cmp-mgmt", "management")),
    PUT("user.create-mon", "/users/cmp-mon", user_body("cmp-mon", "monitoring")),
    PUT("user.create-pol", "/users/cmp-pol", user_body("cmp-pol", "policymaker")),
    PUT("user.create-none", "/users/cmp-none", user_body("cmp-none", "")),
    PUT("user.create-amqp", "/users/cmp-amqp", user_body("cmp-amqp", "")),
    PUT("user.create-hash", "/users/cmp-hash",
        {"password_hash": rabbit_hash(PASSWORDS["cmp-hash"]), "hashing_algorithm": "rabbit_password_hashing_sha256",
         "tags": "management"}),
    PUT("user.create-tag-list", "/users/cmp-taglist", {"password": "x", "tags": ["management", "custom-tag"]}),
    PUT("user.create-no-password", "/users/cmp-nopw", {"tags": "management"}),
    PUT("user.create-empty-hash", "/users/cmp-emptyhash", {"password_hash": "", "tags": ""}),
    PUT("user.missing-tags", "/users/cmp-notags", {"password": "x"}),
    GET("user.get-admin", "/users/cmp-admin", values=USER_VALUES),
    GET("user.get-hash", "/users/cmp-hash", values=(*USER_VALUES, "password_hash")),
    GET("user.get-tag-list", "/users/cmp-taglist", values=USER_VALUES),
    # without a password RabbitMQ stores a random hash: not compared
    GET("user.get-no-password", "/users/cmp-nopw", values=USER_VALUES),
    GET("user.get-notags", "/users/cmp-notags", values=USER_VALUES),
    GET("user.login-with-hash", "/whoami", who="cmp-hash", values=("name", "tags")),
    GET("user.list", "/users", own=True, values=("[].name", "[].tags")),
    GET("user.without-permissions", "/users/without-permissions", own=True, values=("[].name|sorted",)),
    PUT("user.create-bulk1", "/users/cmp-bulk1", {"password": "x", "tags": ""}),
    PUT("user.create-bulk2", "/users/cmp-bulk2", {"password": "x", "tags": ""}),
    POST("user.bulk-delete", "/users/bulk-delete", {"users": ["cmp-bulk1", "cmp-bulk2"]}),
    GET("user.bulk-deleted", "/users/cmp-bulk1"),
    POST("user.bulk-delete-bad", "/users/bulk-delete", {"names": ["cmp-bulk1"]}),
    DELETE("user.delete", "/users/cmp-nopw"),
    DELETE("user.delete-again", "/users/cmp-nopw"),
    DELETE("user.delete-missing", "/users/cmp-missing"),
    PUT("user.bad-algorithm", "/users/cmp-badalg", {"password_hash": "abc", "hashing_algorithm": "nope", "tags": ""}),
]

PERMISSIONS = [
    PUT("perm.admin-user-on-main", f"/permissions/{V}/{{admin}}", ALL),
    PUT("perm.create", f"/permissions/{V}/cmp-admin", ALL),
    PUT("perm.update", f"/permissions/{V}/cmp-admin", ALL),
    PUT("perm.mgmt", f"/permissions/{V}/cmp-mgmt", {"configure": "^cmp-", "write": ".*", "read": ".*"}),
    PUT("perm.mon", f"/permissions/{V}/cmp-mon", ALL),
    PUT("perm.pol", f"/permissions/{V}/cmp-pol", ALL),
    PUT("perm.amqp", f"/permissions/{V}/cmp-amqp", ALL),
    PUT("perm.hash", f"/permissions/{V}/cmp-hash", ALL),
    PUT("perm.none", f"/permissions/{V}/cmp-none", ALL),
    PUT("perm.admin-unicode", f"/permissions/{VU_SEG}/{{admin}}", ALL),
    GET("perm.get", f"/permissions/{V}/cmp-mgmt", values=PERM_VALUES),
    GET("perm.list", "/permissions", own=True, values=("[].user", "[].vhost")),
    GET("perm.of-user", "/users/cmp-mgmt/permissions", values=("[].user", "[].vhost")),
    GET("perm.of-vhost", f"/vhosts/{V}/permissions", values=("[].user",)),
    GET("perm.without-permissions-after", "/users/without-permissions", own=True, values=("[].name|sorted",)),
    DELETE("perm.delete", f"/permissions/{V}/cmp-none"),
    DELETE("perm.delete-again", f"/permissions/{V}/cmp-none"),
    GET("perm.deleted", f"/permissions/{V}/cmp-none"),
    PUT("perm.missing-vhost", "/permissions/cmp-missing/cmp-mgmt", ALL),
    PUT("perm.missing-user", f"/permissions/{V}/cmp-missing", ALL),
    PUT("perm.missing-key", f"/permissions/{V}/cmp-pol", {"configure": ".*", "write": ".*"}),
    PUT("topic.create", f"/topic-permissions/{V}/cmp-mgmt", {"exchange": "amq.topic", "write": "^cmp", "read": ".*"}),
    PUT("topic.update", f"/topic-permissions/{V}/cmp-mgmt", {"exchange": "amq.topic", "write": "^cmp\\.", "read": ".*"}),
    PUT("topic.second", f"/topic-permissions/{V}/cmp-mgmt", {"exchange": "cmp-topic", "write": ".*", "read": ".*"}),
    GET("topic.get", f"/topic-permissions/{V}/cmp-mgmt", values=("[].exchange", "[].write", "[].read")),
    GET("topic.list", "/topic-permissions", own=True, values=("[].user", "[].exchange")),
    GET("topic.of-user", "/users/cmp-mgmt/topic-permissions", values=("[].exchange",)),
    GET("topic.of-vhost", f"/vhosts/{V}/topic-permissions", values=("[].user", "[].exchange")),
    DELETE("topic.delete", f"/topic-permissions/{V}/cmp-mgmt"),
    GET("topic.deleted", f"/topic-permissions/{V}/cmp-mgmt"),
    DELETE("topic.delete-again", f"/topic-permissions/{V}/cmp-mgmt"),
    PUT("topic.missing-exchange-key", f"/topic-permissions/{V}/cmp-mgmt", {"write": ".*", "read": ".*"}),
]

LIMITS_AND_PARAMETERS = [
    PUT("vlimit.max-connections", f"/vhost-limits/{V}/max-connections", {"value": 100}),
    PUT("vlimit.max-queues", f"/vhost-limits/{V}/max-queues", {"value": 1000}),
    PUT("vlimit.update", f"/vhost-limits/{V}/max-queues", {"value": 900}),
    PUT("vlimit.bad-name", f"/vhost-limits/{V}/max-nothing", {"value": 1}),
    PUT("vlimit.bad-value", f"/vhost-limits/{V}/max-queues", {"value": "many"}),
    PUT("vlimit.missing-value", f"/vhost-limits/{V}/max-queues", {}),
    GET("vlimit.list", "/vhost-limits", own=True, values=("[].vhost", "[].value")),
    GET("vlimit.of-vhost", f"/vhost-limits/{V}", values=("[].vhost", "[].value")),
    GET("vlimit.of-vhost-without", f"/vhost-limits/{VU_SEG}", values=("#",)),
    GET("vlimit.of-missing-vhost", "/vhost-limits/cmp-missing"),
    GET("param.list", "/parameters", own=True, values=("[].component", "[].name", "[].value")),
    GET("param.component", "/parameters/vhost-limits", own=True, values=("[].name", "[].value")),
    GET("param.component-vhost", f"/parameters/vhost-limits/{V}", values=("[].name", "[].value")),
    GET("param.one", f"/parameters/vhost-limits/{V}/limits", values=("name", "vhost", "component", "value")),
    GET("param.missing", f"/parameters/vhost-limits/{V}/nope"),
    PUT("param.unknown-component", f"/parameters/cmp-nothing/{V}/x", {"value": 1}),
    DELETE("vlimit.delete", f"/vhost-limits/{V}/max-queues"),
    DELETE("vlimit.delete-again", f"/vhost-limits/{V}/max-queues"),
    GET("vlimit.after-delete", f"/vhost-limits/{V}", values=("[].value",)),
    PUT("ulimit.max-channels", "/user-limits/cmp-mgmt/max-channels", {"value": 10}),
    PUT("ulimit.max-connections", "/user-limits/cmp-mgmt/max-connections", {"value": 5}),
    PUT("ulimit.bad-name", "/user-limits/cmp-mgmt/max-queues", {"value": 5}),
    PUT("ulimit.missing-user", "/user-limits/cmp-missing/max-channels", {"value": 5}),
    GET("ulimit.list", "/user-limits", own=True, values=("[].user", "[].value")),
    GET("ulimit.of-user", "/user-limits/cmp-mgmt", values=("[].user", "[].value")),
    GET("ulimit.in-user", "/users/cmp-mgmt", values=("limits",)),
    DELETE("ulimit.delete", "/user-limits/cmp-mgmt/max-connections"),
    DELETE("ulimit.delete-again", "/user-limits/cmp-mgmt/max-connections"),
    GET("ulimit.after-delete", "/user-limits/cmp-mgmt", values=("[].value",)),
    PUT("gparam.create", "/global-parameters/cmp-gp", {"name": "cmp-gp", "value": {"k": "v", "n": 1}}),
    PUT("gparam.update", "/global-parameters/cmp-gp", {"name": "cmp-gp", "value": {"k": "w"}}),
    PUT("gparam.scalar", "/global-parameters/cmp-gp2", {"value": "text"}),
    GET("gparam.get", "/global-parameters/cmp-gp", values=("name", "value")),
    GET("gparam.get-scalar", "/global-parameters/cmp-gp2", values=("name", "value")),
    GET("gparam.list", "/global-parameters", own=True, values=("[].name", "[].value")),
    PUT("gparam.missing-value", "/global-parameters/cmp-gp3", {"name": "cmp-gp3"}),
    DELETE("gparam.delete", "/global-parameters/cmp-gp2"),
    DELETE("gparam.delete-again", "/global-parameters/cmp-gp2"),
    GET("gparam.deleted", "/global-parameters/cmp-gp2"),
]

POLICY = {"pattern": "^cmp-pq", "definition": {"message-ttl": 60000, "max-length": 100}, "apply-to": "queues",
          "priority": 1}
POLICY_VALUES = ("name", "vhost", "pattern", "apply-to", "definition", "priority")
POLICIES = [
    PUT("policy.create", f"/policies/{V}/cmp-ttl", POLICY),
    PUT("policy.update", f"/policies/{V}/cmp-ttl", POLICY),
    PUT("policy.exchanges", f"/policies/{V}/cmp-ae", {"pattern": "^cmp-pe", "apply-to": "exchanges",
                                                      "definition": {"alternate-exchange": "cmp-fanout"}}),
    GET("policy.get", f"/policies/{V}/cmp-ttl", values=POLICY_VALUES),
    GET("policy.get-defaults", f"/policies/{V}/cmp-ae", values=POLICY_VALUES),
    GET("policy.list", "/policies", own=True, values=("[].name",)),
    GET("policy.of-vhost", f"/policies/{V}", values=("[].name", "[].priority")),
    GET("policy.missing", f"/policies/{V}/nope"),
    PUT("policy.bad-definition", f"/policies/{V}/cmp-bad", {**POLICY, "definition": {"max-length": "x"}}),
    PUT("policy.missing-definition", f"/policies/{V}/cmp-bad", {"pattern": "x"}),
    PUT("policy.missing-vhost", "/policies/cmp-missing/x", POLICY),
    PUT("opolicy.create", f"/operator-policies/{V}/cmp-op", {"pattern": "^cmp-pq", "apply-to": "queues",
                                                              "definition": {"max-length": 50}, "priority": 0}),
    PUT("opolicy.not-allowed", f"/operator-policies/{V}/cmp-op2", {"pattern": ".*", "definition": {"alternate-exchange": "x"}}),
    GET("opolicy.get", f"/operator-policies/{V}/cmp-op", values=POLICY_VALUES),
    GET("opolicy.list", "/operator-policies", own=True, values=("[].name",)),
    GET("opolicy.of-vhost", f"/operator-policies/{V}", values=("[].name",)),
    GET("opolicy.as-parameter", f"/parameters/operator_policy/{V}", values=("[].name", "[].component")),
    GET("opolicy.missing", f"/operator-policies/{V}/nope"),
]

# what each tag may see and do (401 answers and their reasons are compared too)
AUTH = [
    GET("auth.no-credentials", "/overview", who=None),
    GET("auth.bad-password", "/overview", who=("cmp-admin", "wrong")),
    GET("auth.unknown-user", "/whoami", who=("cmp-nobody", "x")),
    GET("auth.no-tags", "/overview", who="cmp-none"),
    GET("auth.no-tags-whoami", "/whoami", who="cmp-none"),
    GET("auth.mgmt-whoami", "/whoami", who="cmp-mgmt", values=("name", "tags")),
    GET("auth.mgmt-overview", "/overview", who="cmp-mgmt", depth=1),
    GET("auth.mgmt-vhosts", "/vhosts", who="cmp-mgmt", own=True, values=("[].name",)),
    GET("auth.mgmt-vhost-denied", f"/vhosts/{VU_SEG}", who="cmp-mgmt"),
    GET("auth.mgmt-users", "/users", who="cmp-mgmt"),
    GET("auth.mgmt-user", "/users/cmp-mgmt", who="cmp-mgmt"),
    GET("auth.mgmt-permissions", "/permissions", who="cmp-mgmt"),
    GET("auth.mgmt-definitions", "/definitions", who="cmp-mgmt"),
    PUT("auth.mgmt-put-vhost", "/vhosts/cmp-denied", who="cmp-mgmt"),
    PUT("auth.mgmt-put-policy", f"/policies/{V}/cmp-denied", POLICY, who="cmp-mgmt"),
    GET("auth.mgmt-policies", f"/policies/{V}", who="cmp-mgmt", values=("[].name",)),
    GET("auth.mgmt-queues-denied-vhost", f"/queues/{VU_SEG}", who="cmp-mgmt"),
    GET("auth.mgmt-nodes", "/nodes", who="cmp-mgmt", keys=False),
    PUT("auth.mgmt-cluster-name", "/cluster-name", {"name": "cmp-cluster"}, who="cmp-mgmt"),
    GET("auth.mon-vhosts", "/vhosts", who="cmp-mon", own=True, values=("[].name",)),
    GET("auth.mon-users", "/users", who="cmp-mon"),
    GET("auth.mon-queues-other-vhost", f"/queues/{VU_SEG}", who="cmp-mon", values=("#",)),
    PUT("auth.mon-put-policy", f"/policies/{V}/cmp-denied", POLICY, who="cmp-mon"),
    GET("auth.mon-overview", "/overview", who="cmp-mon", depth=1),
    PUT("auth.pol-put-policy", f"/policies/{V}/cmp-polp", {**POLICY, "pattern": "^cmp-nothing"}, who="cmp-pol"),
    GET("auth.pol-get-policy", f"/policies/{V}/cmp-polp", who="cmp-pol", values=("name", "pattern")),
    PUT("auth.pol-policy-other-vhost", f"/policies/{VU_SEG}/cmp-polp", POLICY, who="cmp-pol"),
    PUT("auth.pol-put-vhost", "/vhosts/cmp-denied", who="cmp-pol"),
    PUT("auth.pol-put-user", "/users/cmp-denied", {"password": "x", "tags": ""}, who="cmp-pol"),
    PUT("auth.pol-vhost-limit", f"/vhost-limits/{V}/max-queues", {"value": 1}, who="cmp-pol"),
    DELETE("auth.pol-delete-policy", f"/policies/{V}/cmp-polp", who="cmp-pol"),
    GET("auth.admin-users", "/users", who="cmp-admin", own=True, values=("[].name",)),
    GET("auth.admin-vhost-without-permission", f"/queues/{VU_SEG}", who="cmp-admin", values=("#",)),
    GET("auth.hash-user-permissions", "/permissions", who="cmp-hash"),
]

STEPS = [*VHOSTS, *USERS, *PERMISSIONS, *LIMITS_AND_PARAMETERS, *POLICIES, *AUTH]
