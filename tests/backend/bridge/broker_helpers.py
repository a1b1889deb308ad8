"""A real Mosquitto with the repo's auth config for the bridge tests: logins, a test CA, a subscriber that logs in."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from backend.broker import BrokerTLS, broker_address
from backend.broker_auth import ORACLE_USER, BrokerAuth
from backend.protocol.topics import readings_subscription


def make_test_ca(folder: Path) -> BrokerTLS:
    """A CA made for this test, and a certificate for 127.0.0.1 that it signs (PEM files in ``folder``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def write_key(key, path: Path) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Vatio test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "server.crt").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    write_key(ca_key, folder / "ca.key")
    write_key(server_key, folder / "server.key")
    return BrokerTLS(certfile=folder / "server.crt", keyfile=folder / "server.key", cafile=folder / "ca.crt")


def connect_outcome(
    url: str, username: str | None, password: str | None, ca_file: Path | None = None, timeout_s: float = 10
) -> str:
    """'accepted', or why the broker refused the login or the connection failed (a TLS or socket error)."""
    host, port = broker_address(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    if username is not None:
        client.username_pw_set(username, password)
    if ca_file is not None:
        client.tls_set(ca_certs=str(ca_file), cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    outcome: list[str] = []
    done = threading.Event()

    def on_connect(c, userdata, flags, reason, properties):
        outcome.append("accepted" if not reason.is_failure else f"refused: {reason}")
        done.set()

    def on_disconnect(c, userdata, flags, reason, properties):
        outcome.append(f"disconnected: {reason}")
        done.set()

    client.on_connect, client.on_disconnect = on_connect, on_disconnect
    try:
        client.connect(host, port, keepalive=10)
    except (OSError, ssl.SSLError) as error:
        return f"failed: {error!r}"
    client.loop_start()
    done.wait(timeout_s)
    client.disconnect()
    client.loop_stop()
    return outcome[0] if outcome else "no answer"


class LoggedInSubscriber:
    """A paho subscriber that logs in (the oracle's user by default), collecting (topic, payload) in order."""

    def __init__(
        self,
        url: str,
        community: str,
        username: str | None = ORACLE_USER,
        password: str | None = None,
        topic_filter: str | None = None,
        ca_file: Path | None = None,
    ) -> None:
        host, port = broker_address(url)
        self.messages: list[tuple[str, bytes]] = []
        self.granted: list = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file), cert_reqs=ssl.CERT_REQUIRED, tls_version=ssl.PROTOCOL_TLS_CLIENT)
        subscribed = threading.Event()
        topic_filter = topic_filter or readings_subscription(community)

        def on_connect(client, userdata, flags, reason, properties):
            if not reason.is_failure:
                client.subscribe(topic_filter, qos=1)

        def on_subscribe(client, userdata, mid, reason_codes, properties):
            self.granted = list(reason_codes)
            subscribed.set()

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = lambda c, u, message: self.messages.append((message.topic, message.payload))
        self.client.connect(host, port)
        self.client.loop_start()
        assert subscribed.wait(10), "the subscriber did not subscribe"

    def wait_for(self, count: int, timeout_s: float = 20) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.messages) >= count, f"got {len(self.messages)} of {count} messages"
        return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def auth_folder(folder: Path, community: str, meters: list[str]) -> BrokerAuth:
    """A broker auth folder for ``community``: the ACL, the oracle's login and one per meter."""
    auth = BrokerAuth(folder, community)
    auth.ensure(meters)
    return auth
