"""The worker process killed with SIGKILL in the middle of a delivery batch, and a task that
kills its worker every time."""

import signal

import pytest

from tests.chaos.stack import wait_until

pytestmark = pytest.mark.chaos

RECIPIENTS = 40


def test_worker_killed_mid_batch_then_a_poison_task_is_dead_lettered(make_stack, smtp, tmp_path):
    smtp.delay = 0.08
    stack = make_stack(**smtp.env())
    worker, _ = stack.start(worker=True, beat=True)
    stack.users_with_sessions(RECIPIENTS, prefix="fan")

    stack.django("""
        from django.contrib.auth import get_user_model
        from notifications.services import notify
        notify(kind="event_updated", dedupe_key="kill:1", context={"event_title": "Chaos"},
               recipients=get_user_model().objects.filter(username__startswith="fan"))
    """)
    wait_until(lambda: smtp.count() >= 10, what="the batch to be under way")
    stack.kill(worker, signal.SIGKILL)
    assert smtp.count() < RECIPIENTS

    # 1. A new worker; the rows the dead one held come back when their lease runs out.
    worker = stack.start_worker("--include", "tests.chaos.poison")
    wait_until(
        lambda: stack.postgres.scalar(
            "SELECT count(*) FROM notifications_delivery WHERE status = 'sent'"
        ) == RECIPIENTS,
        timeout=120, what="every delivery sent",
    )
    # Every recipient has the email; a resend of the one in flight carries the same Message-ID,
    # so it shows once.
    assert set(smtp.distinct_per_recipient().values()) == {1}
    assert len(smtp.distinct_per_recipient()) == RECIPIENTS
    assert smtp.count() - RECIPIENTS <= 1
    assert stack.postgres.scalar("SELECT max(attempts) FROM notifications_delivery") <= 2

    # 2. A task that kills the worker process running it, every time.
    marker = tmp_path / "poison-starts"
    stack.django(f"""
        from tests.chaos.poison import kill_own_worker
        kill_own_worker.apply_async(args=[{str(marker)!r}], queue="default",
                                    task_id="poison-task-1")
    """)
    dead = wait_until(
        lambda: stack.postgres.query(
            "SELECT name, starts FROM config_deadtask WHERE task_id = 'poison-task-1'"
        ),
        timeout=90, what="the poison task to be dead-lettered",
    )
    assert dead == [("tests.chaos.poison.kill_own_worker", 4)]  # TASK_MAX_DELIVERIES=3
    assert marker.read_text().count("started") == 3
    assert "dead-lettered, not run again" in stack.log_of(worker)
    assert worker.poll() is None  # the worker itself carries on
    # And still works: a task after the poison one runs.
    stack.django("""
        from notifications.tasks import push_badges
        push_badges.apply_async(args=[[1]], queue="default", task_id="after-poison")
    """)
    wait_until(lambda: "after-poison] succeeded" in stack.log_of(worker), timeout=30,
               what="a task after the poison one")
