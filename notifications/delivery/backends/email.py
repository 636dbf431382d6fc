"""Email through Django's email framework: whatever ``EMAIL_BACKEND`` says (SMTP included)."""

from __future__ import annotations

import hashlib
import smtplib
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.utils import DNS_NAME

from notifications.delivery.backends.base import DeliveryBackend
from notifications.delivery.backends.messages import EmailMessage
from notifications.delivery.errors import DeliveryError, PermanentDeliveryError


def message_id_for(message: EmailMessage) -> str:
    """The same ``Message-ID`` every time the same notifications are sent: a resend after a
    crash (at-least-once) is the same message to the receiving mail systems, which show it once."""
    if not message.notification_ids:
        return make_msgid(domain=str(DNS_NAME))
    ids = ".".join(str(pk) for pk in sorted(message.notification_ids))
    if len(ids) > 60:
        ids = hashlib.sha256(ids.encode()).hexdigest()[:32]
    return f"<herald.notification.{ids}@{DNS_NAME}>"


class DjangoEmailBackend(DeliveryBackend):
    """One connection of ``EMAIL_BACKEND`` per batch (an SMTP session, not one per message)."""

    channel = "email"

    def __init__(self):
        self._connection = None

    @property
    def provider(self) -> str:
        return f"email:{settings.EMAIL_BACKEND.rsplit('.', 2)[-2]}"

    def send(self, message: EmailMessage) -> str:
        message_id = message_id_for(message)
        try:
            if self._connection is None:
                self._connection = get_connection(fail_silently=False)
                self._connection.open()
            email = EmailMultiAlternatives(
                subject=message.subject,
                body=message.text,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[message.to],
                headers={"Message-ID": message_id, **message.headers},
                connection=self._connection,
            )
            if message.html:
                email.attach_alternative(message.html, "text/html")
            email.send(fail_silently=False)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(f"recipient refused: {exc.recipients}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()  # the session may be broken; the next message opens a new one
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        return message_id

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except (smtplib.SMTPException, OSError):
                pass
