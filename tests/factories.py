"""Factories shared by every area's tests."""

import factory
from django.contrib.auth import get_user_model


class UserFactory(factory.django.DjangoModelFactory):
    """A user whose email address is confirmed (``email_verified=False`` leaves it unconfirmed)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    # Tests log in with force_login: no password hashing, which costs ~0.3 s per user.
    password = "!unusable"

    @factory.post_generation
    def email_verified(user, create, extracted, **kwargs):
        if create and extracted is not False and user.email:
            from notifications.account.services import email_mark_verified

            email_mark_verified(user=user)
