"""The management API fixtures: the administrator's client and what the plugin created for this test."""

from urllib.parse import quote


def test_vhost_and_user_exist_with_full_permissions(amqpd_vhost, amqpd_management):
    v, u = quote(amqpd_vhost.vhost, safe=""), quote(amqpd_vhost.user, safe="")
    assert amqpd_management.get(f"/api/vhosts/{v}")["name"] == amqpd_vhost.vhost
    perms = amqpd_management.get(f"/api/permissions/{v}/{u}")
    assert (perms["configure"], perms["write"], perms["read"]) == (".*", ".*", ".*")
    # The user has no permissions anywhere else.
    assert [p["vhost"] for p in amqpd_management.get(f"/api/users/{u}/permissions")] == [amqpd_vhost.vhost]


def test_amqp_url_names_the_vhost(amqp_url, amqpd_vhost, amqpd_management_url, amqpd_management_credentials):
    assert amqp_url.endswith("/" + quote(amqpd_vhost.vhost, safe=""))
    assert amqpd_management_url.startswith("http")
    user, password = amqpd_management_credentials
    assert user and password
