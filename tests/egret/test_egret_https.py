"""HTTPS: egret through a real TLS endpoint (a TLS-terminating relay in front of pouchdb-server)."""
from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import uuid

import httpx
import pytest
from click.testing import CliRunner

from egret.cli import main

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


class TlsRelay:
    """Accepts TLS on a loopback port and relays the plain bytes to ``backend_port``."""

    def __init__(self, backend_port: int, certfile: str, keyfile: str):
        self.backend_port = backend_port
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(certfile, keyfile)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while self.running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            secure = self.context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()
            return
        backend = socket.create_connection(("127.0.0.1", self.backend_port))
        threading.Thread(target=self._pump, args=(backend, secure), daemon=True).start()
        self._pump(secure, backend)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.running = False
        self.listener.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return cert, key


@pytest.fixture
def https_url(couch, certificate):
    cert, key = certificate
    relay = TlsRelay(couch.port, str(cert), str(key))
    yield f"https://127.0.0.1:{relay.port}"
    relay.close()


def test_push_and_pushdata_over_https(https_url, certificate, sample_app, tmp_path):
    cert, _ = certificate
    db = "egret-tls-" + uuid.uuid4().hex[:8]
    env = {"SSL_CERT_FILE": str(cert)}
    pushed = CliRunner().invoke(main, ["push", f"{https_url}/{db}", str(sample_app)], env=env)
    assert pushed.exit_code == 0, pushed.output
    index = pushed.stdout.strip().splitlines()[-1]
    assert index == f"{https_url}/{db}/_design/sample/index.html"
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert))) as client:
        assert "<h1>Sample</h1>" in client.get(index).text
        (tmp_path / "d.json").write_text('[{"_id": "over-tls"}]')
        stored = CliRunner().invoke(main, ["pushdata", f"{https_url}/{db}", str(tmp_path / "d.json")], env=env)
        assert stored.exit_code == 0, stored.output
        assert client.get(f"{https_url}/{db}/over-tls").status_code == 200
        client.delete(f"{https_url}/{db}")


def test_untrusted_certificate_is_refused_clearly(https_url, sample_app):
    result = CliRunner().invoke(main, ["push", f"{https_url}/egret-tls-untrusted", str(sample_app)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"egret: cannot reach {https_url}/egret-tls-untrusted")
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert result.stderr.count("\n") == 1
