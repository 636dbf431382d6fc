"""A task message that keeps killing its worker is started a bounded number of times, then
dead-lettered visibly instead of being put back for ever."""

import logging

import pytest

from config.celery import app
from config.models import DeadTask

pytestmark = pytest.mark.django_db

started = []


@app.task(name="tests.foundation.crashes_its_worker")
def crashes_its_worker(number):
    started.append(number)  # a real worker process would die right here


def start_as_a_worker_would(task, task_id, *args):
    """Run the task as the worker runs a (re)delivered message: not eager, with its id."""
    task.push_request(id=task_id, is_eager=False, called_directly=False, retries=0,
                      delivery_info={"routing_key": "default"})
    try:
        return task(*args)
    finally:
        task.pop_request()


def test_a_message_started_past_the_limit_is_dead_lettered_and_not_run(settings, caplog):
    settings.TASK_MAX_DELIVERIES = 3
    started.clear()

    with caplog.at_level(logging.ERROR, logger="config.redelivery"):
        for _ in range(5):
            start_as_a_worker_would(crashes_its_worker, "poison-1", 7)

    assert started == [7, 7, 7]
    dead = DeadTask.objects.get(task_id="poison-1")
    assert dead.name == "tests.foundation.crashes_its_worker"
    assert dead.args == "(7,)"
    assert dead.queue == "default"
    assert dead.starts == 5
    assert "dead-lettered" in caplog.text


def test_other_messages_of_the_same_task_still_run(settings):
    settings.TASK_MAX_DELIVERIES = 1
    started.clear()

    for number in range(3):
        start_as_a_worker_would(crashes_its_worker, f"fine-{number}", number)

    assert started == [0, 1, 2]
    assert not DeadTask.objects.exists()


def test_dead_tasks_are_listed_in_the_admin(admin_client):
    DeadTask.objects.create(task_id="poison-2", name="leaderboard.tasks.game_score_task",
                            args="(12,)", starts=6)

    response = admin_client.get("/admin/config/deadtask/")

    assert response.status_code == 200
    assert b"poison-2" in response.content
