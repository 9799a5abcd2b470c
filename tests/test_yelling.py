"""The seed's dirt.core.yelling / dirt.core.log API, against a real SMTP and HTTP server."""
from __future__ import annotations

import logging
import re
import shutil
import socket
import ssl
import subprocess

import pytest

import dirt.logs
from dirt.channels import DeliveryError, SmtpConfig
from dirt.core import log as core_log
from dirt.core import yelling
from dirt.settings import Settings
from listeners import HttpSink, SmtpSink
from servers import free_port

HOST = re.escape(socket.gethostname().split(".")[0])
STAMP = r"[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d"


def test_log_writes_seed_lines_to_file_and_console(tmp_path, capfd):
    path = tmp_path / "logs" / "x.log"
    log = yelling.Log(str(path), service_name="myproject")
    log.write("dirt is running...")
    log.write("Task 2e3d pushed to db")
    log.close()
    lines = path.read_text().splitlines()
    assert re.fullmatch(rf"{STAMP} {HOST} myproject : dirt is running\.\.\.", lines[0]), lines
    assert re.fullmatch(rf"{STAMP} {HOST} myproject : Task 2e3d pushed to db", lines[1]), lines
    assert capfd.readouterr().err.splitlines() == lines

    yelling.Log(str(path), "quiet", hoststamp=False, timestamp=False, console=False).write("bare")
    yelling.log(str(path), "once", service_name="svc", hoststamp=False, console=False)
    yelling.log(str(path), "100% done", console=False)
    lines = path.read_text().splitlines()
    assert lines[2] == "quiet : bare"
    assert re.fullmatch(rf"{STAMP} svc : once", lines[3])
    assert re.fullmatch(rf"{STAMP} {HOST} dirt : 100% done", lines[4])
    assert capfd.readouterr().err == ""


def test_core_log_writes_where_dirt_logs_in_the_same_format(tmp_path):
    path = tmp_path / "dirt.log"
    roots = [logging.getLogger("dirt"), logging.getLogger("egret")]
    saved = [(root.handlers[:], root.level, root.propagate) for root in roots]
    dirt.logs.configure("myproject", path, console=False)
    try:
        core_log.log.write("Connected to db at http://localhost:5984/myproject")
        logging.getLogger("dirt.scheduler").info("2e3dabbff38ca7f6fa05c5a0cbbc95a5 -> localhost.localdomain")
        logging.getLogger("egret.credentials").warning("~/.netrc cannot be parsed")   # egret's, used by dirt
    finally:
        for root, (handlers, level, propagate) in zip(roots, saved):
            for handler in root.handlers:
                handler.close()
            root.handlers[:], root.level, root.propagate = handlers, level, propagate   # as caplog expects
    lines = path.read_text().splitlines()
    assert re.fullmatch(rf"{STAMP} {HOST} myproject : Connected to db at http://localhost:5984/myproject", lines[0])
    assert re.fullmatch(rf"{STAMP} {HOST} myproject : 2e3dabbff38ca7f6fa05c5a0cbbc95a5 -> localhost.localdomain",
                        lines[1])
    assert re.fullmatch(rf"{STAMP} {HOST} myproject : ~/.netrc cannot be parsed", lines[2])


def test_email_through_a_real_smtp_server():
    with SmtpSink() as smtp:
        yelling.email(["a@example.com", "b@example.com"], "build broke", "see\nthe log\n", sender="dirt@example.com",
                      smtp=SmtpConfig("127.0.0.1", smtp.port))
        yelling.email("c@example.com", "one\nline\r\nsubject", "x", smtp=SmtpConfig("127.0.0.1", smtp.port))
    first, second = smtp.mails
    assert first.sender == "dirt@example.com" and first.recipients == ["a@example.com", "b@example.com"]
    assert first.subject == "build broke" and first.body == "see\nthe log\n"
    assert first.message["To"] == "a@example.com, b@example.com" and first.message["Date"]
    assert second.subject == "one line subject"     # no header injection through a subject
    assert second.sender == f"dirt@{socket.gethostname()}"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_email_login_comes_from_the_environment_and_is_never_shown():
    with SmtpSink(login=("builder", "pa55-word")) as smtp:
        settings = Settings(smtp_server="127.0.0.1", smtp_port=smtp.port, smtp_sender="ci@example.com")
        config = SmtpConfig.from_settings(settings, {"DIRT_SMTP_USER": "builder", "DIRT_SMTP_PASSWORD": "pa55-word"})
        assert "pa55-word" not in repr(config)
        yelling.email(["a@example.com"], "hi", "there", smtp=config)
        wrong = SmtpConfig.from_settings(settings, {"DIRT_SMTP_USER": "builder", "DIRT_SMTP_PASSWORD": "nope"})
        with pytest.raises(DeliveryError) as exc:
            yelling.email(["a@example.com"], "hi", "there", smtp=wrong)
    assert smtp.logins[0] == ("builder", "pa55-word") and set(smtp.logins[1:]) == {("builder", "nope")}
    assert len(smtp.mails) == 1 and smtp.mails[0].sender == "ci@example.com"
    assert exc.value.permanent and "535" in str(exc.value) and "nope" not in str(exc.value)


@pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command to make a certificate")
def test_email_with_starttls(tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))     # the client trusts our certificate, and only it
    with SmtpSink(login=("u", "p"), tls_context=server_tls) as smtp:
        tls = SmtpConfig("127.0.0.1", smtp.port, starttls=True, user="u", password="p")
        yelling.email(["a@example.com"], "secure", "body", smtp=tls)
        with pytest.raises(DeliveryError):      # without STARTTLS the server refuses to go on
            yelling.email(["a@example.com"], "plain", "body", smtp=SmtpConfig("127.0.0.1", smtp.port))
    assert [m.subject for m in smtp.mails] == ["secure"]


def test_email_failures_say_whether_a_retry_can_help():
    with pytest.raises(DeliveryError) as exc:
        yelling.email(["a@example.com"], "s", "m", smtp=SmtpConfig("127.0.0.1", free_port(), timeout=5))
    assert not exc.value.permanent and "cannot send mail through 127.0.0.1" in str(exc.value)
    with SmtpSink(answer="451 4.3.0 later") as busy, SmtpSink(answer="554 5.7.1 rejected") as strict:
        with pytest.raises(DeliveryError) as later:
            yelling.email(["a@example.com"], "s", "m", smtp=SmtpConfig("127.0.0.1", busy.port))
        with pytest.raises(DeliveryError) as never:
            yelling.email(["a@example.com"], "s", "m", smtp=SmtpConfig("127.0.0.1", strict.port))
    assert not later.value.permanent and "451" in str(later.value)
    assert never.value.permanent and "554 5.7.1 rejected" in str(never.value)


def test_sms_goes_to_the_carriers_mail_gateway():
    carriers = yelling.sms_carriers()
    assert "verizon" in carriers and carriers == sorted(carriers)
    with SmtpSink() as smtp:
        yelling.sms("(555) 123-4567", "verizon", "build", "r123 failed", smtp=SmtpConfig("127.0.0.1", smtp.port))
        with pytest.raises(DeliveryError) as exc:
            yelling.sms("5551234567", "pigeon", "build", "r123 failed", smtp=SmtpConfig("127.0.0.1", smtp.port))
    assert smtp.mails[0].recipients == ["5551234567@vtext.com"] and smtp.mails[0].body.strip() == "r123 failed"
    assert exc.value.permanent and "unknown carrier 'pigeon'" in str(exc.value)


def test_http_post_sends_a_form():
    with HttpSink(statuses=[200, 503, 404]) as http:
        response = yelling.http_post(http.url + "/notify", {"record": "r123", "state": "failed"})
        with pytest.raises(DeliveryError) as busy:
            yelling.http_post(http.url + "/notify", {"n": 2})
        with pytest.raises(DeliveryError) as gone:
            yelling.http_post(http.url + "/notify?token=abc", {"n": 3})
    assert response.status_code == 200
    first = http.requests[0]
    assert first.form() == {"record": "r123", "state": "failed"}
    assert first.headers["content-type"] == "application/x-www-form-urlencoded"
    assert first.headers["user-agent"].startswith("dirt/")
    assert not busy.value.permanent and "HTTP 503" in str(busy.value)
    assert gone.value.permanent and "HTTP 404" in str(gone.value) and "abc" not in str(gone.value)
    with pytest.raises(DeliveryError) as dead:
        yelling.http_post(f"http://127.0.0.1:{free_port()}/x", {}, timeout=5)
    assert not dead.value.permanent
