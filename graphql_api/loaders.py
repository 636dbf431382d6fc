"""Batch loaders: the rows behind nested fields of a list are read in one query per field.

The loaders do not cache (``cache=False``): a socket's context lives as long as the socket, and
a cached row would go stale. They still batch every load of one tick into one query.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from strawberry.dataloader import DataLoader

from events.models import Event, Registration
from events.selectors import events_with_counts
from notifications.models import Subscription, topic_for


def _events(ids: list[int]) -> list[Event | None]:
    found = events_with_counts(Event.objects.select_related("organizer")).in_bulk(ids)
    return [found.get(pk) for pk in ids]


class Loaders:
    def __init__(self, user):
        self.user = user
        self.event = DataLoader(load_fn=sync_to_async(_events), cache=False)
        self.registration = DataLoader(load_fn=sync_to_async(self._registrations), cache=False)
        self.following = DataLoader(load_fn=sync_to_async(self._following), cache=False)

    def _registrations(self, event_ids: list[int]) -> list[Registration | None]:
        if not self.user.is_authenticated:
            return [None] * len(event_ids)
        found = {
            registration.event_id: registration
            for registration in Registration.objects.filter(user=self.user, event_id__in=event_ids)
        }
        return [found.get(pk) for pk in event_ids]

    def _following(self, event_ids: list[int]) -> list[bool]:
        if not self.user.is_authenticated:
            return [False] * len(event_ids)
        topics = {pk: topic_for(Event(pk=pk)) for pk in event_ids}
        followed = set(
            Subscription.objects.filter(user=self.user, topic__in=topics.values()).values_list(
                "topic", flat=True
            )
        )
        return [topics[pk] in followed for pk in event_ids]
