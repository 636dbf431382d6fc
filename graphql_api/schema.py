"""The schema, one object for the HTTP view and the socket consumer.

``docs/graphql.schema.graphql`` is its SDL (``manage.py graphql_schema`` writes it; a test
fails when the two differ).
"""

import strawberry
from django.conf import settings
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from graphql_api import limits
from graphql_api.mutations import Mutation
from graphql_api.queries import Query
from graphql_api.subscriptions import Subscription


def _unexpected(error: GraphQLError) -> bool:
    """Mask what a resolver did not mean to say (a bug's traceback text), except in debug."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError) and not settings.DEBUG


class Schema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        # Refusals (not logged in, not found, over a limit) are answers, not incidents: only
        # what a resolver raised unexpectedly is logged, with its traceback.
        unexpected = [
            error for error in errors
            if error.original_error is not None
            and not isinstance(error.original_error, GraphQLError)
        ]
        if unexpected:
            super().process_errors(unexpected, execution_context)


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[*limits.extensions(), lambda: MaskErrors(should_mask_error=_unexpected)],
)
