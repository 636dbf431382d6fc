"""Errors: top-level GraphQL errors with a machine-readable ``extensions.code``, and the typed
``UserError`` that mutation payloads carry instead of failing the whole request."""

from enum import Enum

import strawberry
from graphql import GraphQLError


@strawberry.enum
class ErrorCode(Enum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    CLOSED = "CLOSED"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"


@strawberry.type(description="Why a mutation did not do what was asked.")
class UserError:
    code: ErrorCode
    message: str
    field: str | None = None


def graphql_error(code: ErrorCode, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code.value})


def unauthenticated() -> GraphQLError:
    return graphql_error(ErrorCode.UNAUTHENTICATED, "Log in to use this API.")


def not_found(what: str) -> GraphQLError:
    return graphql_error(ErrorCode.NOT_FOUND, f"No such {what}.")


def bad_input(message: str) -> GraphQLError:
    return graphql_error(ErrorCode.INVALID, message)
