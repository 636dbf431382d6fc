import factory

from tests import factories


class UserFactory(factories.UserFactory):
    """Browser users log in through the login form, so they get a real password."""

    password = factory.django.Password("herald-pass-123")
