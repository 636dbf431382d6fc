"""Events benchmark: the registration rush and the reminder batch, through events.services.

    .venv/bin/python bench/events.py --rush 50 --places 10 --attendees 5000

Uses its own PostgreSQL database (created and migrated here) and Redis db 9, unless
DATABASE_URL / REDIS_URL say otherwise. By default delivery tasks are only enqueued, so the figures
are the services' own cost; ``--deliver`` runs the after-commit work inline too (in-app pushes
through the real Redis channel layer, email to Django's locmem backend).

1. Rush: ``--rush`` threads, each with its own connection, register at the same moment for an
   event with ``--places`` places (the event row lock serialises them); checks that exactly
   ``--places`` are confirmed, then reports registrations per second.
2. Reminders: ``--attendees`` confirmed attendees of one event whose hour-before reminder is due;
   times ``reminders_send_due()`` (one ``notify`` for all of them) and a second run (the beat
   running again: it must find nothing to send).
The last line is the summary.
"""

import argparse
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/herald_bench_events")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # debug, a per-run key
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")


def make_users(prefix: str, count: int) -> list:
    from django.contrib.auth import get_user_model

    User = get_user_model()
    User.objects.bulk_create(
        [User(username=f"{prefix}{i}", password="!") for i in range(count)], batch_size=5000
    )
    return list(User.objects.filter(username__startswith=prefix).order_by("pk"))


def make_event(organizer, *, starts_in: timedelta, capacity: int):
    from django.utils import timezone

    from events.models import Event

    starts_at = timezone.now() + starts_in
    return Event.objects.create(
        title="Bench", location="Hall", starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1), capacity=capacity, organizer=organizer,
    )


def rush(organizer, *, people: int, places: int) -> float:
    from django.db import connection

    from events import services
    from events.models import Registration, RegistrationStatus

    event = make_event(organizer, starts_in=timedelta(days=2), capacity=places)
    users = make_users(f"rush{event.pk}-", people)
    start = threading.Barrier(people + 1)

    def register(user):
        try:
            connection.ensure_connection()
            start.wait()
            services.registration_create(user=user, event=event)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=people) as pool:
        futures = [pool.submit(register, user) for user in users]
        start.wait()
        began = time.perf_counter()
        for future in futures:
            future.result()
        elapsed = time.perf_counter() - began
    confirmed = Registration.objects.filter(event=event, status=RegistrationStatus.CONFIRMED)
    assert confirmed.count() == places, confirmed.count()
    assert Registration.objects.filter(event=event).count() == people
    return people / elapsed


def reminders(organizer, *, attendees: int) -> tuple[float, float]:
    from events import services
    from events.models import Registration, RegistrationStatus, ReminderSent

    event = make_event(organizer, starts_in=timedelta(minutes=30), capacity=attendees)
    users = make_users(f"att{event.pk}-", attendees)
    Registration.objects.bulk_create(
        [
            Registration(event=event, user=user, status=RegistrationStatus.CONFIRMED)
            for user in users
        ],
        batch_size=5000,
    )
    began = time.perf_counter()
    sent = services.reminders_send_due()
    first = time.perf_counter() - began
    began = time.perf_counter()
    again = services.reminders_send_due()
    second = time.perf_counter() - began
    assert sent == attendees and again == 0, (sent, again)
    assert ReminderSent.objects.filter(registration__event=event).count() == attendees
    return attendees / first, second * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rush", type=int, default=50)
    parser.add_argument("--places", type=int, default=10)
    parser.add_argument("--attendees", type=int, default=5000)
    parser.add_argument(
        "--deliver", action="store_true",
        help="also run the after-commit delivery inline (in-app push, email to locmem)",
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command

    from config.celery import app

    call_command("ensure_database")
    call_command("migrate", verbosity=0)
    # Without --deliver the delivery tasks are only enqueued (to this Redis db, with no worker):
    # the figures are then the events services' own cost, the transaction and the enqueue.
    app.conf.task_always_eager = args.deliver
    from django.contrib.auth import get_user_model

    organizer, _ = get_user_model().objects.get_or_create(username="bench-organizer")
    print(f"command: .venv/bin/python bench/events.py --rush {args.rush} --places {args.places}"
          f" --attendees {args.attendees}{' --deliver' if args.deliver else ''}")
    print(f"database: {os.environ['DATABASE_URL']}  redis: {os.environ['REDIS_URL']}")
    rush_per_s = rush(organizer, people=args.rush, places=args.places)
    print(f"rush: {args.rush} concurrent registrations for {args.places} places:"
          f" {rush_per_s:,.0f} registrations/s (exactly {args.places} confirmed)")
    reminders_per_s, rerun_ms = reminders(organizer, attendees=args.attendees)
    print(f"reminders: {args.attendees} attendees reminded at {reminders_per_s:,.0f}/s;"
          f" second beat run found nothing in {rerun_ms:.1f} ms")
    print(f"events deliver={'inline' if args.deliver else 'enqueued'} rush={args.rush}"
          f" registrations_per_s={rush_per_s:.0f}"
          f" attendees={args.attendees} reminders_per_s={reminders_per_s:.0f}"
          f" rerun_ms={rerun_ms:.1f}")


if __name__ == "__main__":
    main()
