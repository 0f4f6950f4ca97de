"""Parents' e-mail through the school's SMTP server (smtplib + email.message, UTF-8 throughout)."""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from kiosk.config import MailSettings, read_secret

log = logging.getLogger(__name__)

# The ports where the server speaks TLS from the first byte (SMTPS); elsewhere STARTTLS.
IMPLICIT_TLS_PORTS = frozenset({465})


@dataclass(frozen=True)
class Letter:
    """One message to send: who to, the subject and the plain-text body."""

    to_address: str
    subject: str
    body: str


@dataclass(frozen=True)
class Delivery:
    """What became of one letter: None when the server took it, else why not (one sentence)."""

    letter: Letter
    error: str | None


class Mailer(Protocol):
    """Sends letters; every letter gets a Delivery, in order, whatever happens."""

    @property
    def available(self) -> bool: ...

    def send(self, letters: Sequence[Letter]) -> list[Delivery]: ...


class NullMailer:
    """No SMTP server configured (`[mail] host` empty): nothing can be e-mailed."""

    available = False

    def send(self, letters: Sequence[Letter]) -> list[Delivery]:
        return [Delivery(letter, "no mail server configured ([mail] host)") for letter in letters]


def build_message(letter: Letter, from_address: str) -> EmailMessage:
    """The MIME message for `letter`: UTF-8 subject and body, so Chinese reads correctly in any
    mail program (the policy encodes the headers as RFC 2047 words)."""
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = letter.to_address
    message["Subject"] = letter.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
    message.set_content(letter.body, charset="utf-8")
    return message


class SmtpMailer:
    """Sends through `[mail]`'s server on one connection per batch (STARTTLS, login if a user).

    Runs outside any database transaction: the chase commits its claim on each notice first.
    """

    available = True

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    def send(self, letters: Sequence[Letter]) -> list[Delivery]:
        if not letters:
            return []
        s = self.settings
        try:
            smtp = self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            reason = (
                f"mail server {s.host}:{s.port} refused the sign-in as {s.user!r} "
                f"(check [mail] user and password_file; {exc.smtp_code})"
            )
            log.warning("chase: %s", reason)
            return [Delivery(letter, reason) for letter in letters]
        except (OSError, smtplib.SMTPException) as exc:
            reason = f"mail server {s.host}:{s.port} unreachable or refused us ({exc})"
            log.warning("chase: %s", reason)
            return [Delivery(letter, reason) for letter in letters]
        deliveries: list[Delivery] = []
        try:
            for letter in letters:
                deliveries.append(self._send_one(smtp, letter))
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                # The messages already accepted stay accepted; a rude goodbye changes nothing.
                smtp.close()
        return deliveries

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        # The system's CAs, or only the school's own CA when `ca_file` names one.
        context = ssl.create_default_context(cafile=str(s.ca_file) if s.ca_file else None)
        smtp: smtplib.SMTP
        if s.port in IMPLICIT_TLS_PORTS:
            smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            if s.starttls:
                smtp.starttls(context=context)
        if s.user:
            smtp.login(s.user, read_secret(s.password_file) or "")
        return smtp

    def _send_one(self, smtp: smtplib.SMTP, letter: Letter) -> Delivery:
        try:
            smtp.send_message(build_message(letter, self.settings.from_address))
        except smtplib.SMTPRecipientsRefused as exc:
            codes = ", ".join(str(code) for code, _ in exc.recipients.values())
            return Delivery(letter, f"the mail server refused the address ({codes})")
        except (smtplib.SMTPException, OSError) as exc:
            return Delivery(letter, f"the mail server did not take the message ({exc})")
        return Delivery(letter, None)


def make_mailer(settings: MailSettings) -> Mailer:
    """The SMTP mailer for `[mail]`, or the null one when no host is set."""
    return SmtpMailer(settings) if settings.host else NullMailer()
