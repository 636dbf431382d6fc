"""Two callers racing with the same dedupe_key on the real PostgreSQL."""

import threading
import time

import pytest
from django.db import connection, transaction

from notifications.kinds import EVENT_UPDATED
from notifications.models import Delivery, Notification
from notifications.services import notify
from tests.pipeline.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.services
def test_racing_notify_calls_with_one_dedupe_key_make_one_row_per_recipient():
    users = UserFactory.create_batch(40)
    user_ids = [user.pk for user in users]
    start_together = threading.Barrier(2, timeout=10)
    results, errors = [], []

    def caller():
        try:
            start_together.wait()
            with transaction.atomic():
                result = notify(kind=EVENT_UPDATED, recipients=user_ids, context={},
                                dedupe_key="event:7:updated:v2")
                results.append(result)
                # Keep the transaction open a moment: the other caller's insert waits on these
                # uncommitted rows, then skips them once they commit.
                time.sleep(0.3)
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=caller) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(result.created for result in results) == [0, 40]
    assert Notification.objects.filter(dedupe_key="event:7:updated:v2").count() == 40
    assert Delivery.objects.count() == 40  # one email each, never two
