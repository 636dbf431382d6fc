"""Receivers that end a login's open sockets (``config.socket_guard``)."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.dispatch import receiver

from config.socket_guard import sockets_end_session, sockets_recheck_user


@receiver(user_logged_out, dispatch_uid="herald.sockets_end_session")
def _logged_out(sender, request, user, **kwargs):
    session = getattr(request, "session", None)
    if user is not None:
        sockets_end_session(user_id=user.pk, session_key=getattr(session, "session_key", None))


@receiver(post_save, sender=get_user_model(), dispatch_uid="herald.sockets_recheck_user")
def _user_saved(sender, instance, created, update_fields=None, **kwargs):
    # A login saves last_login only; a password change, deactivation or edit saves more.
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    sockets_recheck_user(user_id=instance.pk)
