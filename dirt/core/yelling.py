"""The yelling API of the 2012 dirt: log files, e-mail, SMS and HTTP POSTs.

Log lines look like ``Sep 07 12:57:20 host service : message``; they are
written with the standard :mod:`logging` module and dirt's one formatter
(:class:`dirt.logs.SeedFormatter`), so they match what the rest of dirt logs.
The senders are those of :mod:`dirt.channels`; each takes the seed's
arguments, plus keyword-only options for what the 2012 code hard-wired
(SMTP server ``localhost:25``, no TLS, no login). They raise
:class:`dirt.channels.DeliveryError` when a message cannot be delivered.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Sequence

import httpx

from dirt.channels import SMS_GATEWAYS, DeliveryError, SmtpConfig, post_form, send_email, sms_address
from dirt.logs import SeedFormatter, seed_handlers

__all__ = ["Log", "log", "email", "sms", "sms_carriers", "http_post", "DeliveryError", "SmtpConfig"]


class Log:
    """Stores all the options for :func:`log`, for frequent logging without them.

    ``filename=None`` writes through dirt's own log instead (the ``dirt``
    logger, which ``dirt serve`` sends to the project's ``log_file`` and the
    console in the same format); the other options then come from there.
    """

    def __init__(self, filename: str | os.PathLike | None, service_name: str | None = None, hoststamp: bool = True,
                 timestamp: bool = True, console: bool = True):
        self.filename = filename
        self.service_name = service_name
        self.hoststamp = hoststamp
        self.timestamp = timestamp
        self.console = console
        if filename is None:
            self.logger = logging.getLogger("dirt.yelling")
        else:
            # A logger of its own, outside logging's registry, so two Logs never share handlers.
            self.logger = logging.Logger(f"yelling:{filename}", logging.INFO)
            formatter = SeedFormatter(service_name or "dirt", hoststamp=hoststamp, timestamp=timestamp)
            for handler in seed_handlers(formatter, filename, console):
                self.logger.addHandler(handler)

    def write(self, message: str) -> None:
        """Write ``message`` to the log file (and the console)."""
        self.logger.info("%s", message)

    def close(self) -> None:
        """Close the log file (a later write opens it again)."""
        if self.filename is not None:
            for handler in self.logger.handlers:
                handler.close()


def log(filename: str | os.PathLike | None, message: str, service_name: str | None = None, hoststamp: bool = True,
        timestamp: bool = True, console: bool = True) -> None:
    """Write a message to a log file, optionally with a time and host stamp like syslog."""
    one = Log(filename, service_name, hoststamp, timestamp, console)
    try:
        one.write(message)
    finally:
        one.close()


def email(recipients: str | Sequence[str], subject: str, message: str, sender: str | None = None, *,
          smtp: SmtpConfig | None = None) -> None:
    """Send a good, old-fashioned e-mail via SMTP.

    ``smtp`` says where (default: localhost:25, or DIRT_SMTP_USER /
    DIRT_SMTP_PASSWORD from the environment as the login).
    """
    if isinstance(recipients, str):
        recipients = [recipients]
    send_email(list(recipients), subject, message, smtp=smtp or _default_smtp(), sender=sender)


def sms(phone: str, carrier: str, subject: str, message: str, sender: str | None = None, *,
        smtp: SmtpConfig | None = None) -> None:
    """Send an SMS to ``phone`` by e-mail to its carrier's gateway (see :func:`sms_carriers`).

    This is dicey: most carriers have closed their e-mail gateways, and a
    closed one usually accepts the mail and drops it without a word.
    """
    email([sms_address(phone, carrier)], subject, message, sender, smtp=smtp)


def sms_carriers() -> list[str]:
    """The carrier names :func:`sms` knows."""
    return sorted(SMS_GATEWAYS)


def http_post(url: str, params: Mapping[str, Any], timeout: float = 10.0) -> httpx.Response:
    """POST some key-value pairs to a URL (as a form); the response, if 2xx."""
    return post_form(url, params, timeout=timeout)


def _default_smtp() -> SmtpConfig:
    return SmtpConfig(user=os.environ.get("DIRT_SMTP_USER") or None, password=os.environ.get("DIRT_SMTP_PASSWORD"))
