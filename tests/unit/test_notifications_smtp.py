"""SMTP_URL as the operator writes it: plain, TLS, STARTTLS, with or without a login."""

from __future__ import annotations

import pytest

from portal.notifications.sending import SmtpSettings, parse_smtp_url


def test_a_plain_url_names_host_port_and_login():
    """Does smtp://user:pass@host:port give exactly those parts, with no TLS?"""
    assert parse_smtp_url("smtp://mailer:s3cret@mail.example.com:2525") == SmtpSettings(
        host="mail.example.com", port=2525, username="mailer", password="s3cret", ssl=False, starttls=False
    )


def test_smtps_means_tls_from_the_start_on_port_465():
    """Is smtps:// TLS from the first byte, on 465 unless a port is given?"""
    settings = parse_smtp_url("smtps://mailer:pw@mail.example.com")
    assert (settings.ssl, settings.starttls, settings.port) == (True, False, 465)
    assert parse_smtp_url("smtps://mail.example.com:4650").port == 4650


def test_starttls_is_asked_for_in_the_query():
    """Does ?starttls=1 upgrade a plain connection, on 587 by default?"""
    settings = parse_smtp_url("smtp://apikey:pw@smtp.example.com?starttls=1")
    assert (settings.ssl, settings.starttls, settings.port) == (False, True, 587)
    assert parse_smtp_url("smtp://smtp.example.com:25?starttls=true").starttls is True
    assert parse_smtp_url("smtp://smtp.example.com?starttls=0").starttls is False


def test_without_a_login_or_port_it_is_an_open_relay_on_25():
    """Does a bare smtp://host mean no login, port 25?"""
    assert parse_smtp_url("smtp://localhost") == SmtpSettings(host="localhost", port=25)


def test_user_and_password_are_percent_decoded():
    """Can a password hold @, : and / when percent-encoded, as URLs require?"""
    settings = parse_smtp_url("smtp://me%40example.com:p%40ss%3Aw%2Frd@mail.example.com:587?starttls=1")
    assert settings.username == "me@example.com"
    assert settings.password == "p@ss:w/rd"


def test_the_password_never_shows_in_a_repr():
    """Would logging the settings leak the password?"""
    text = repr(parse_smtp_url("smtp://mailer:hunter2-secret@mail.example.com:2525"))
    assert "hunter2-secret" not in text
    assert "mail.example.com:2525" in text


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://mail.example.com:port", "mail.example.com"])
def test_a_url_that_is_not_smtp_is_refused(url):
    """Is a wrong scheme, a missing host or a bad port refused with ValueError?"""
    with pytest.raises(ValueError):
        parse_smtp_url(url)
