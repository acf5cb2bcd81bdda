"""The Kafka security settings every client of ours turns into aiokafka's: mutual TLS (a client
certificate and key, an encrypted key's password) and the mistakes a user can make with them, each
a one-line error naming the variable. The brokers that check them are in
tests/integration/test_tls.py and test_sasl.py."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr

from linguaflow.errors import ConfigError
from linguaflow.kafka import client_config
from linguaflow.settings import ClientSettings

Files = tuple[Path, Path, Path]  # the CA, a client certificate, its key


def tls(**fields: Any) -> ClientSettings:
    return ClientSettings(kafka_security_protocol="SSL", **fields)


@pytest.fixture(scope="module")
def client_cert(tmp_path_factory: pytest.TempPathFactory) -> Files:
    home = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    leaf = ca.issue_cert("linguaflow-client")
    ca.cert_pem.write_to_path(str(home / "ca.pem"))
    leaf.cert_chain_pems[0].write_to_path(str(home / "client.pem"))
    leaf.private_key_pem.write_to_path(str(home / "client.key"))
    return home / "ca.pem", home / "client.pem", home / "client.key"


def test_a_client_certificate_is_loaded_into_the_context(client_cert: Files) -> None:
    ca, cert, key = client_cert
    config = client_config(tls(kafka_ssl_cafile=ca, kafka_ssl_certfile=cert, kafka_ssl_keyfile=key))
    context: ssl.SSLContext = config["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_half_a_client_certificate_or_one_without_tls_is_refused(
    client_cert: tuple[Path, Path, Path],
) -> None:
    _, cert, key = client_cert
    with pytest.raises(ConfigError, match="needs both LINGUAFLOW_KAFKA_SSL_CERTFILE and"):
        client_config(tls(kafka_ssl_certfile=cert))
    with pytest.raises(ConfigError, match="KAFKA_SECURITY_PROTOCOL=PLAINTEXT uses no TLS"):
        client_config(ClientSettings(kafka_ssl_certfile=cert, kafka_ssl_keyfile=key))


def test_unreadable_files_and_a_wrong_key_password_name_the_files(client_cert: Files, tmp_path: Path) -> None:
    _, cert, key = client_cert
    with pytest.raises(ConfigError, match=r"cannot load the Kafka TLS files .*missing\.pem"):
        client_config(tls(kafka_ssl_certfile=tmp_path / "missing.pem", kafka_ssl_keyfile=key))
    encrypted = tmp_path / "encrypted.key"
    loaded = serialization.load_pem_private_key(key.read_bytes(), password=None)
    encrypted.write_bytes(
        loaded.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"key-pw"),
        )
    )
    files: dict[str, Any] = {"kafka_ssl_certfile": cert, "kafka_ssl_keyfile": encrypted}
    assert client_config(tls(**files, kafka_ssl_key_password=SecretStr("key-pw")))["ssl_context"] is not None
    wrong = tls(**files, kafka_ssl_key_password=SecretStr("nope-9"))
    with pytest.raises(ConfigError, match=r"encrypted\.key") as info:
        client_config(wrong)
    assert "nope-9" not in str(info.value)
