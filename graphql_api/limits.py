"""Limits on what one operation may ask for: depth, cost, tokens, introspection.

Every limit is read from the settings when an operation runs, so tests and deployments change
them without rebuilding the schema.
"""

from __future__ import annotations

from django.conf import settings
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.validation import NoSchemaIntrospectionCustomRule, ValidationRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, QueryDepthLimiter

# Arguments that multiply the cost of what is selected under a field (a page of rows).
PAGE_ARGUMENTS = ("first", "limit")


class CostLimitRule(ValidationRule):
    """Refuse an operation whose estimated cost exceeds GRAPHQL_MAX_COST.

    Each field costs 1; under a field with ``first``/``limit`` every selected field counts once
    per row asked for (a variable counts as the largest page). Fragments are expanded.
    """

    def enter_operation_definition(self, node: OperationDefinitionNode, *_args):
        limit = settings.GRAPHQL_MAX_COST
        cost = self._selection_cost(node.selection_set, set(), node)
        if cost > limit:
            self.report_error(
                GraphQLError(
                    f"This operation costs {cost}, more than the limit of {limit}: "
                    "ask for fewer rows or fields.",
                    node,
                    extensions={"code": "COST_LIMIT"},
                )
            )

    def _multiplier(self, field: FieldNode, operation: OperationDefinitionNode) -> int:
        for argument in field.arguments or ():
            if argument.name.value not in PAGE_ARGUMENTS:
                continue
            if isinstance(argument.value, IntValueNode):
                return max(1, int(argument.value.value))
            if isinstance(argument.value, VariableNode):
                return settings.GRAPHQL_MAX_PAGE_SIZE
        return 1

    def _selection_cost(
        self, selection_set: SelectionSetNode | None, seen: set[str], operation
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    continue  # introspection is allowed or refused as a whole
                below = self._selection_cost(selection.selection_set, seen, operation)
                total += 1 + self._multiplier(selection, operation) * below
            elif isinstance(selection, InlineFragmentNode):
                total += self._selection_cost(selection.selection_set, seen, operation)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.context.get_fragment(name)
                if fragment is None or name in seen:
                    continue  # unknown or cyclic: other rules report those
                total += self._selection_cost(fragment.selection_set, seen | {name}, operation)
        return total


class OperationLimits(AddValidationRules):
    def __init__(self) -> None:
        rules = [CostLimitRule]
        if not settings.GRAPHQL_INTROSPECTION:
            rules.append(NoSchemaIntrospectionCustomRule)
        super().__init__(rules)


def extensions() -> list:
    """Schema extensions, each made afresh per operation (so it reads the current settings)."""
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.GRAPHQL_MAX_TOKENS),
        lambda: QueryDepthLimiter(max_depth=settings.GRAPHQL_MAX_DEPTH),
        OperationLimits,
    ]
