"""Unit tests for the TLS, SASL, default-user and definitions keys (amqpd/config_tls.py) and for
amqpd/tls.py's context building, mechanism offer and certificate user names."""

from __future__ import annotations

import datetime
import ssl
from pathlib import Path
from types import SimpleNamespace

import pytest

from amqpd.config import Config, ConfigError, SSLOptions, load_config
from amqpd.tls import build_context, external_login, format_dn, login_name, offered_mechanisms

trustme = pytest.importorskip("trustme")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate and its key, in a directory of their own."""
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    server.cert_chain_pems[0].write_to_path(str(d / "server.pem"))
    server.private_key_pem.write_to_path(str(d / "server.key"))
    server.private_key_and_cert_chain_pem.write_to_path(str(d / "combined.pem"))
    other = trustme.CA().issue_cert("localhost")
    other.private_key_pem.write_to_path(str(d / "other.key"))
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(server.private_key_pem.bytes(), password=None)
    (d / "encrypted.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"s3cret")))
    return d


TLS = """listeners.ssl.default = 5671
ssl_options.cacertfile = ca.pem
ssl_options.certfile = server.pem
ssl_options.keyfile = server.key
"""


def load_text(directory: Path, text: str, env: dict | None = None) -> Config:
    path = directory / "amqpd.conf"
    path.write_text(text)
    return load_config(path, env=env or {})


def error_text(directory: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(directory, text)
    return str(info.value)


# ------------------------------------------------------------------------------------------- defaults


def test_defaults():
    c = load_config(None, env={})
    assert c.ssl_listeners == ()
    assert c.ssl_options == SSLOptions()
    assert c.ssl_options.verify == "verify_none" and c.ssl_options.fail_if_no_peer_cert is False
    assert c.ssl_handshake_timeout == 5000
    assert c.auth_mechanisms == ("PLAIN", "AMQPLAIN")
    assert c.ssl_cert_login_from == "distinguished_name"
    assert (c.ssl_cert_login_san_type, c.ssl_cert_login_san_index) == ("dns", 0)
    assert c.default_permissions == (".*", ".*", ".*")
    assert c.default_user_tags == ("administrator",)
    assert c.load_definitions is None


def test_example_conf_still_loads_as_defaults():
    example = Path(__file__).resolve().parents[2] / "conf" / "amqpd.conf"
    c = load_config(example, env={})
    assert c.ssl_listeners == () and c.auth_mechanisms == ("PLAIN", "AMQPLAIN")
    assert c.default_user_tags == ("administrator",) and c.load_definitions is None


# ------------------------------------------------------------------------------------------ listeners


def test_ssl_listener_with_files_relative_to_the_conf_dir(pki):
    c = load_text(pki, TLS)
    assert c.ssl_listeners == (("0.0.0.0", 5671),)
    assert c.listeners == (("127.0.0.1", 5672),)  # TCP untouched
    o = c.ssl_options
    assert (o.cacertfile, o.certfile, o.keyfile) == (pki / "ca.pem", pki / "server.pem", pki / "server.key")


def test_several_ssl_listeners_in_file_order(pki):
    c = load_text(pki, TLS + "listeners.ssl.local = 127.0.0.1:5673\nlisteners.ssl.v6 = [::1]:5671\n")
    assert c.ssl_listeners == (("0.0.0.0", 5671), ("127.0.0.1", 5673), ("::1", 5671))


def test_listeners_ssl_none_wins_wherever_it_is(pki):
    assert load_text(pki, "listeners.ssl = none\n" + TLS).ssl_listeners == ()
    assert load_text(pki, TLS + "listeners.ssl = none\n").ssl_listeners == ()


def test_listeners_ssl_other_than_none(pki):
    msg = error_text(pki, "listeners.ssl = 5671\n")
    assert "amqpd.conf:1: invalid value '5671' for key 'listeners.ssl'" in msg


def test_bad_ssl_listener_port(pki):
    msg = error_text(pki, "listeners.ssl.default = 70000\n")
    assert "amqpd.conf:1: invalid value '70000' for key 'listeners.ssl.default'" in msg


def test_ssl_listener_without_certfile_names_the_listener(pki):
    msg = error_text(pki, "heartbeat = 5\nlisteners.ssl.default = 5671\n")
    assert msg.startswith(f"{pki / 'amqpd.conf'}:2: listeners.ssl.default needs ssl_options.certfile")


def test_ssl_options_without_listener_are_not_checked(pki):
    # as in RabbitMQ, ssl_options alone configure nothing; the files must still be readable
    c = load_text(pki, "ssl_options.certfile = server.pem\nssl_options.verify = verify_peer\n")
    assert c.ssl_listeners == () and c.ssl_options.verify == "verify_peer"


def test_keyfile_may_be_left_out_when_the_certfile_holds_the_key(pki):
    c = load_text(pki, "listeners.ssl.default = 5671\nssl_options.certfile = combined.pem\n")
    assert c.ssl_options.keyfile is None


def test_certfile_without_key_anywhere(pki):
    msg = error_text(pki, "listeners.ssl.default = 5671\nssl_options.certfile = server.pem\n")
    assert ":2: invalid value for key 'ssl_options.certfile'" in msg


# -------------------------------------------------------------------------------------------- files


@pytest.mark.parametrize("key", ["cacertfile", "certfile", "keyfile"])
def test_missing_file(pki, key):
    msg = error_text(pki, f"ssl_options.{key} = nope.pem\n")
    assert f"amqpd.conf:1: invalid value 'nope.pem' for key 'ssl_options.{key}'" in msg
    assert f"{pki / 'nope.pem'}: no such file" in msg


def test_directory_is_not_a_certificate_file(pki):
    msg = error_text(pki, f"ssl_options.certfile = {pki}\n")
    assert "is a directory, not a file" in msg


def test_unreadable_file(pki, tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    secret = tmp_path / "k.pem"
    secret.write_text("x")
    secret.chmod(0)
    msg = error_text(tmp_path, f"ssl_options.keyfile = {secret}\n")
    assert "permission denied" in msg and "'ssl_options.keyfile'" in msg


def test_key_that_does_not_match_the_certificate(pki):
    msg = error_text(pki, TLS + "ssl_options.keyfile = other.key\n")
    assert ":5: invalid value for key 'ssl_options.keyfile'" in msg and "does not match" in msg


def test_encrypted_key_with_password(pki):
    c = load_text(pki, TLS + "ssl_options.keyfile = encrypted.key\nssl_options.password = s3cret\n")
    assert c.ssl_options.password == "s3cret"


def test_encrypted_key_wrong_password(pki):
    msg = error_text(pki, TLS + "ssl_options.keyfile = encrypted.key\nssl_options.password = nope\n")
    assert ":6: invalid value for key 'ssl_options.password'" in msg and "wrong password" in msg


def test_encrypted_key_without_password_never_prompts(pki):
    msg = error_text(pki, TLS + "ssl_options.keyfile = encrypted.key\n")
    assert ":5: invalid value for key 'ssl_options.keyfile'" in msg and "set ssl_options.password" in msg


def test_bad_ca_file(pki):
    msg = error_text(pki, TLS + "ssl_options.cacertfile = server.key\n")
    assert ":5: invalid value for key 'ssl_options.cacertfile'" in msg


# -------------------------------------------------------------------------------- verification, versions


def test_verify_and_fail_if_no_peer_cert(pki):
    c = load_text(pki, TLS + "ssl_options.verify = verify_peer\nssl_options.fail_if_no_peer_cert = true\n")
    assert c.ssl_options.verify == "verify_peer" and c.ssl_options.fail_if_no_peer_cert is True
    assert build_context(c.ssl_options).verify_mode == ssl.CERT_REQUIRED
    c = load_text(pki, TLS + "ssl_options.verify = verify_peer\n")
    assert build_context(c.ssl_options).verify_mode == ssl.CERT_OPTIONAL
    assert build_context(load_text(pki, TLS).ssl_options).verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize("line,key", [
    ("ssl_options.verify = verify_always", "ssl_options.verify"),
    ("ssl_options.verify = VERIFY_PEER", "ssl_options.verify"),
    ("ssl_options.fail_if_no_peer_cert = yes", "ssl_options.fail_if_no_peer_cert"),
    ("ssl_options.honor_cipher_order = 1", "ssl_options.honor_cipher_order"),
    ("ssl_options.honor_ecc_order = on", "ssl_options.honor_ecc_order"),
    ("ssl_options.depth = 256", "ssl_options.depth"),
    ("ssl_options.depth = -1", "ssl_options.depth"),
    ("ssl_options.versions.1 = sslv3", "ssl_options.versions.1"),
    ("ssl_options.ciphers.1 = AES128-SHA:AES256-SHA", "ssl_options.ciphers.1"),
    ("ssl_handshake_timeout = 0", "ssl_handshake_timeout"),
])
def test_bad_values_name_line_and_key(pki, line, key):
    msg = error_text(pki, "heartbeat = 5\n" + line + "\n")
    assert f"amqpd.conf:2: invalid value '{line.split(' = ')[1]}' for key '{key}'" in msg


def test_verify_peer_needs_a_ca(pki):
    msg = error_text(pki, "listeners.ssl.default = 5671\nssl_options.certfile = server.pem\n"
                          "ssl_options.keyfile = server.key\nssl_options.verify = verify_peer\n")
    assert ":4: ssl_options.verify = verify_peer needs ssl_options.cacertfile" in msg


def test_versions_list_sets_minimum_and_maximum(pki):
    c = load_text(pki, TLS + "ssl_options.versions.2 = tlsv1.2\nssl_options.versions.1 = TLSv1.3\n")
    assert c.ssl_options.versions == ("tlsv1.3", "tlsv1.2")
    ctx = build_context(c.ssl_options)
    assert (ctx.minimum_version, ctx.maximum_version) == (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3)
    ctx = build_context(load_text(pki, TLS + "ssl_options.versions.1 = tlsv1.3\n").ssl_options)
    assert ctx.minimum_version == ctx.maximum_version == ssl.TLSVersion.TLSv1_3


def test_depth_and_honor_order_are_accepted(pki):
    c = load_text(pki, TLS + "ssl_options.depth = 2\nssl_options.honor_cipher_order = true\n"
                             "ssl_options.honor_ecc_order = true\n")
    assert (c.ssl_options.depth, c.ssl_options.honor_cipher_order, c.ssl_options.honor_ecc_order) == (2, True, True)
    assert build_context(c.ssl_options).options & ssl.OP_CIPHER_SERVER_PREFERENCE


def test_ciphers_in_numeric_key_order(pki):
    c = load_text(pki, TLS + "ssl_options.ciphers.10 = ECDHE-RSA-AES128-GCM-SHA256\n"
                             "ssl_options.ciphers.2 = ECDHE-RSA-AES256-GCM-SHA384\n"
                             "ssl_options.ciphers.1 = TLS_AES_256_GCM_SHA384\n")
    assert c.ssl_options.ciphers == ("TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
                                     "ECDHE-RSA-AES128-GCM-SHA256")
    names = [x["name"] for x in build_context(c.ssl_options).get_ciphers() if x["protocol"] != "TLSv1.3"]
    assert names == ["ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256"]


def test_unknown_cipher(pki):
    msg = error_text(pki, TLS + "ssl_options.ciphers.1 = ECDHE-RSA-AES256-GCM-SHA384\n"
                                "ssl_options.ciphers.2 = NOT-A-CIPHER\n")
    assert ":6: invalid value for key 'ssl_options.ciphers': unknown cipher suite 'NOT-A-CIPHER'" in msg


def test_handshake_timeout(pki):
    assert load_text(pki, "ssl_handshake_timeout = 2500\n").ssl_handshake_timeout == 2500


def test_unknown_ssl_option_suggests(pki):
    msg = error_text(pki, "ssl_options.certfil = server.pem\n")
    assert msg.endswith(":1: unknown key 'ssl_options.certfil' (did you mean 'ssl_options.certfile'?)")
    assert "unknown key 'ssl_options.dhfile'" in error_text(pki, "ssl_options.dhfile = x\n")


# ------------------------------------------------------------------------------------------------ SASL


def test_auth_mechanisms_order_is_the_key_order(tmp_path):
    c = load_text(tmp_path, "auth_mechanisms.2 = PLAIN\nauth_mechanisms.1 = EXTERNAL\n")
    assert c.auth_mechanisms == ("EXTERNAL", "PLAIN")
    c = load_text(tmp_path, "auth_mechanisms.1 = AMQPLAIN\n")
    assert c.auth_mechanisms == ("AMQPLAIN",)


@pytest.mark.parametrize("value,hint", [("plain", "names are case-sensitive"), ("RABBIT-CR-DEMO", "must be one of")])
def test_bad_auth_mechanism(tmp_path, value, hint):
    msg = error_text(tmp_path, f"auth_mechanisms.1 = {value}\n")
    assert f"amqpd.conf:1: invalid value '{value}' for key 'auth_mechanisms.1'" in msg and hint in msg


@pytest.mark.parametrize("value,expected", [
    ("distinguished_name", "distinguished_name"), ("common_name", "common_name"),
    ("subject_alternative_name", "subject_alternative_name"), ("subject_alt_name", "subject_alternative_name"),
])
def test_ssl_cert_login_from(tmp_path, value, expected):
    assert load_text(tmp_path, f"ssl_cert_login_from = {value}\n").ssl_cert_login_from == expected


def test_ssl_cert_login_san(tmp_path):
    c = load_text(tmp_path, "ssl_cert_login_san_type = email\nssl_cert_login_san_index = 1\n")
    assert (c.ssl_cert_login_san_type, c.ssl_cert_login_san_index) == ("email", 1)


@pytest.mark.parametrize("line", ["ssl_cert_login_from = cn", "ssl_cert_login_san_type = x400",
                                  "ssl_cert_login_san_index = -1"])
def test_bad_ssl_cert_login(tmp_path, line):
    key, value = line.split(" = ")
    assert f"amqpd.conf:1: invalid value '{value}' for key '{key}'" in error_text(tmp_path, line + "\n")


# ------------------------------------------------------------------------------ default user, definitions


def test_default_permissions(tmp_path):
    c = load_text(tmp_path, "default_permissions.configure = ^$\ndefault_permissions.read = ^amq\\.\n"
                            "default_permissions.write = x.*\n")
    assert c.default_permissions == ("^$", "x.*", "^amq\\.")  # configure, write, read
    assert load_text(tmp_path, "default_permissions.read = ^r$\n").default_permissions == (".*", ".*", "^r$")


def test_bad_default_permission(tmp_path):
    msg = error_text(tmp_path, "default_permissions.write = (\n")
    assert "amqpd.conf:1: invalid value '(' for key 'default_permissions.write': not a regular expression" in msg
    assert "unknown key 'default_permissions.admin'" in error_text(tmp_path, "default_permissions.admin = .*\n")


def test_default_user_tags_replace_the_default(tmp_path):
    c = load_text(tmp_path, "default_user_tags.monitoring = true\ndefault_user_tags.management = true\n")
    assert c.default_user_tags == ("monitoring", "management")
    c = load_text(tmp_path, "default_user_tags.administrator = true\ndefault_user_tags.administrator = false\n")
    assert c.default_user_tags == ()
    msg = error_text(tmp_path, "default_user_tags.administrator = yes\n")
    assert "invalid value 'yes' for key 'default_user_tags.administrator'" in msg


def test_load_definitions_file_or_directory(tmp_path):
    (tmp_path / "defs.json").write_text("{}")
    assert load_text(tmp_path, "load_definitions = defs.json\n").load_definitions == tmp_path / "defs.json"
    (tmp_path / "defs.d").mkdir()
    c = load_text(tmp_path, "definitions.import_backend = local_filesystem\ndefinitions.local.path = defs.d\n")
    assert c.load_definitions == tmp_path / "defs.d"
    msg = error_text(tmp_path, "load_definitions = missing.json\n")
    assert "amqpd.conf:1: invalid value 'missing.json' for key 'load_definitions'" in msg
    assert "no such file or directory" in msg


def test_definitions_https_backend_is_not_supported(tmp_path):
    msg = error_text(tmp_path, "definitions.import_backend = https\n")
    assert "amqpd.conf:1: invalid value 'https' for key 'definitions.import_backend'" in msg


def test_rabbitmq_default_user_environment(tmp_path):
    env = {"RABBITMQ_DEFAULT_USER": "admin", "RABBITMQ_DEFAULT_PASS": "pw", "RABBITMQ_DEFAULT_VHOST": "prod"}
    c = load_text(tmp_path, "default_user = fileuser\ndefault_vhost = filevhost\n", env=env)
    assert (c.default_user, c.default_pass, c.default_vhost) == ("admin", "pw", "prod")  # env beats file
    c = load_config(None, env={**env, "AMQPD_DEFAULT_USER": "amqpd"})
    assert c.default_user == "amqpd"  # the AMQPD_ variable beats RabbitMQ's
    assert load_config(None, env={"RABBITMQ_DEFAULT_USER": ""}).default_user == "guest"  # empty = unset


# -------------------------------------------------------------------------------- certificate user names


def test_format_dn_reverses_the_rdns_and_joins_multi_valued_ones():
    subject = ((("countryName", "US"),), (("organizationName", "amqpd-test"),),
               (("organizationalUnitName", "a"), ("commonName", "client")))
    assert format_dn(subject) == "OU=a+CN=client,O=amqpd-test,C=US"


@pytest.mark.parametrize("value,escaped", [
    ("a,b", "a\\,b"), ("a+b", "a\\+b"), ('q"x', 'q\\"x'), ("a;b<c>d\\e", "a\\;b\\<c\\>d\\\\e"),
    ("#x", "\\#x"), ("x#", "x#"), (" lead", "\\ lead"), ("trail ", "trail\\ "), ("mid dle", "mid dle"),
    ("a=b", "a=b"), ("é", "\\C3\\A9"), ("til~de", "til\\7Ede"), ("tab\t", "tab\\09"),
])
def test_format_dn_escapes_as_rabbit_cert_info(value, escaped):
    assert format_dn(((("commonName", value),),)) == f"CN={escaped}"


def test_format_dn_labels_and_oids():
    subject = ((("domainComponent", "org"),), (("domainComponent", "example"),), (("userId", "u1"),),
               (("emailAddress", "a@b"),), (("streetAddress", "Main"),), (("serialNumber", "7"),),
               (("businessCategory", "x"),), (("1.2.3.4", "y"),))
    assert format_dn(subject) == ("1.2.3.4=y,2.5.4.15=x,SERIALNUMBER=7,STREET=Main,EMAILADDRESS=a@b,UID=u1,"
                                  "DC=example,DC=org")


def _parsed(cert_pem: bytes, tmp_path: Path) -> dict:
    """What SSLObject.getpeercert() returns for this certificate."""
    path = tmp_path / "peer.pem"
    path.write_bytes(cert_pem)
    return ssl._ssl._test_decode_cert(str(path))  # type: ignore[attr-defined]


def test_login_name_from_a_real_certificate(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme, Inc."),
        x509.NameAttribute(NameOID.COMMON_NAME, "José"),
        x509.NameAttribute(NameOID.COMMON_NAME, "second"),
    ])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("a.example"), x509.RFC822Name("me@example"), x509.DNSName("b.example")]),
                critical=False)
            .sign(key, hashes.SHA256()))
    parsed = _parsed(cert.public_bytes(serialization.Encoding.PEM), tmp_path)
    assert login_name(parsed, "distinguished_name") == "CN=second,CN=Jos\\C3\\A9,O=Acme\\, Inc.,C=FR"
    assert login_name(parsed, "common_name") == "José,second"
    assert login_name(parsed, "subject_alternative_name") == "a.example"
    assert login_name(parsed, "subject_alternative_name", "dns", 1) == "b.example"
    assert login_name(parsed, "subject_alternative_name", "email", 0) == "me@example"
    assert login_name(parsed, "subject_alternative_name", "dns", 2) is None
    assert login_name(parsed, "subject_alternative_name", "uri", 0) is None


def test_trustme_client_certificate_dn(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("guest@example.org", common_name="guest", organization_name="amqpd-test",
                         organization_unit_name="tests")
    parsed = _parsed(cert.cert_chain_pems[0].bytes(), tmp_path)
    assert login_name(parsed, "distinguished_name") == "CN=guest,OU=tests,O=amqpd-test"
    assert login_name(parsed, "common_name") == "guest"


# ---------------------------------------------------------------------------------------- SASL offer


class _Transport:
    def __init__(self, ssl_object=None):
        self.ssl_object = ssl_object

    def get_extra_info(self, name, default=None):
        return self.ssl_object if name == "ssl_object" else default


class _SSLObject:
    def __init__(self, parsed: dict | None):
        self.parsed = parsed

    def getpeercert(self, binary_form=False):
        if self.parsed is None:
            return None
        return b"DER" if binary_form else self.parsed


def _config(**kw):
    base = {"auth_mechanisms": ("EXTERNAL", "PLAIN", "AMQPLAIN"), "ssl_cert_login_from": "common_name",
            "ssl_cert_login_san_type": "dns", "ssl_cert_login_san_index": 0,
            "ssl_options": SSLOptions(verify="verify_peer")}
    return SimpleNamespace(**{**base, **kw})


def test_external_is_offered_on_tls_connections_only():
    c = _config()
    assert offered_mechanisms(c, _Transport()) == ["PLAIN", "AMQPLAIN"]
    assert offered_mechanisms(c, _Transport(_SSLObject(None))) == ["EXTERNAL", "PLAIN", "AMQPLAIN"]
    assert offered_mechanisms(_config(auth_mechanisms=("PLAIN",)), _Transport(_SSLObject(None))) == ["PLAIN"]


def test_external_login_reasons():
    guest = {"subject": ((("commonName", "guest"),),)}
    assert external_login(_config(), _Transport()) == (None, "not a TLS-enabled connection")
    assert external_login(_config(), _Transport(_SSLObject(None))) == (
        None, "connection peer presented no TLS (x.509) certificate")
    assert external_login(_config(ssl_options=SSLOptions()), _Transport(_SSLObject(guest))) == (
        None, "TLS configuration is unsafe")
    assert external_login(_config(), _Transport(_SSLObject({"subject": ()}))) == (None, "no name found")
    assert external_login(_config(), _Transport(_SSLObject(guest))) == ("guest", "")
    assert external_login(_config(ssl_cert_login_from="distinguished_name"),
                          _Transport(_SSLObject(guest))) == ("CN=guest", "")
