"""Scraping /metrics through the real endpoint and reading samples back."""

from django.test import Client
from prometheus_client.parser import text_string_to_metric_families


def scrape(client: Client, **headers) -> dict[tuple, float]:
    """GET /metrics and return {(sample name, sorted labels without pid): value}, summed over
    processes where a gauge is per process."""
    response = client.get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict[tuple, float] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "pid"))
            key = (sample.name, labels)
            samples[key] = samples.get(key, 0.0) + sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def staff_client() -> Client:
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(username="operator", is_staff=True))
    return client


def tasks_waiting(queue: str, count: int = 1) -> None:
    """Publish ``count`` harmless tasks to ``queue`` on the real broker, for no worker to take."""
    from config.celery import app
    from notifications.tasks import push_badges

    app.conf.task_always_eager = False
    try:
        for _ in range(count):
            push_badges.apply_async(args=[[]], queue=queue)
    finally:
        app.conf.task_always_eager = True
