"""TLS for SMTP: only where SMTP_URL asks for it, and the CA store loaded once per process."""

from __future__ import annotations

import socket
import ssl
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from portal.notifications import sending
from portal.notifications.sending import Mailer, tls_context


class Inbox:
    def __init__(self) -> None:
        self.recipients: list[str] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.recipients += envelope.rcpt_tos
        return "250 OK"


@pytest.fixture
def plain_server():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Inbox(), hostname="127.0.0.1", port=port)
    controller.start()
    yield controller
    controller.stop()


def test_plain_smtp_sends_without_loading_any_tls_settings(plain_server, monkeypatch, tmp_path):
    """Does a message over smtp:// go out without building a TLS context (the CA store costs more than the send)?"""

    def refuse():
        raise AssertionError("a TLS context was built for plain SMTP")

    monkeypatch.setattr(ssl, "create_default_context", refuse)
    tls_context.cache_clear()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", "Hello"
    message.set_content("Hi")
    with Mailer(f"smtp://127.0.0.1:{plain_server.port}", tmp_path) as mailer:
        mailer.send(message, "hello")
    assert plain_server.handler.recipients == ["b@example.com"]


class FakeSmtpSsl:
    """smtplib.SMTP_SSL without a server: notes the TLS context each connection was given."""

    contexts: list[ssl.SSLContext] = []

    def __init__(self, host, port, *, timeout, context) -> None:
        self.contexts.append(context)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass

    def login(self, user, password) -> None:
        pass

    def sendmail(self, sender, recipients, data, mail_options=()) -> None:
        pass

    def quit(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_every_smtps_connection_of_a_process_shares_one_tls_context_with_certificate_checks(monkeypatch, tmp_path):
    """Is the CA store loaded once however many connections go out over smtps://, and is the server still verified?"""
    built: list[ssl.SSLContext] = []
    real = ssl.create_default_context

    def counting():
        built.append(real())
        return built[-1]

    monkeypatch.setattr(ssl, "create_default_context", counting)
    monkeypatch.setattr(sending.smtplib, "SMTP_SSL", FakeSmtpSsl)
    monkeypatch.setattr(FakeSmtpSsl, "contexts", [])
    tls_context.cache_clear()
    message = EmailMessage()
    message["From"], message["To"] = "a@example.com", "b@example.com"
    for _ in range(3):  # three batches, a connection each
        with Mailer("smtps://mailer:pw@mail.example.com", tmp_path) as mailer:
            mailer.send(message, "hello")
    assert len(built) == 1
    assert FakeSmtpSsl.contexts == [built[0]] * 3
    assert built[0].verify_mode == ssl.CERT_REQUIRED and built[0].check_hostname
    tls_context.cache_clear()
