"""Delivery benchmark: email and mobile push rows sent per second, and HTTP API requests per second.

Against PostgreSQL and Redis (services mode), in a database of its own:

    createdb -h 127.0.0.1 -U postgres herald_bench_delivery
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/herald_bench_delivery \
    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/python bench/delivery.py --deliveries 5000

What it times (setup and clean-up excluded; Celery tasks run inline, Django's in-memory email
backend stands in for SMTP, so the figures are Herald's own cost per row, not a provider's):
- batched: ``enqueue_deliveries`` of N pending email rows at normal priority: tasks of
  ``DELIVERY_BATCH_SIZE`` rows, one claim statement per batch, then render + send + outcome per row;
- one by one: the same number of rows through the per-row ``deliver`` task (as urgent rows go);
- mobile: N pending phone-app rows (half iOS, half Android) through ``enqueue_deliveries`` like
  the batched email rows, to the local fake APNs and FCM services (``tests/fakes/mobile_push.py``,
  HTTP/2 over TLS, one process each so they do not share this one's CPU): JWT and OAuth2 token,
  a task's rows as concurrent streams, one connection per provider. This process is the worker,
  with the worker's garbage collector settings (``config.collector``): it prints its rows/s
  (wall clock, what the goal of 1,000/s per worker process is about) and its rows per CPU
  second (its own CPU, every thread), the stand-ins' CPU per 1,000 rows, and the load average
  before and after the timed part. ``--mobile-only`` runs only this;
- API: ``POST /api/v1/notifications`` (one recipient each, new Idempotency-Key each) through
  Django's test client, then the same requests again (idempotent replays).
The last line has a fixed format for scripts.
"""

import argparse
import os
import platform
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")  # debug, a per-run key


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--mobile", type=int, default=5000, help="phone-app push rows")
    parser.add_argument(
        "--mobile-only", action="store_true", help="skip the email and API parts"
    )
    return parser.parse_args()


def main():
    args = parse_args()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core import mail
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from config.celery import app
    from config.collector import tune_garbage_collector
    from notifications.api.services import api_key_create
    from notifications.delivery import enqueue_deliveries, tasks
    from notifications.models import (
        ApiKey,
        Channel,
        ContactPoint,
        Delivery,
        DeliveryStatus,
        Notification,
    )

    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        sys.exit("bench/delivery.py needs DATABASE_URL (PostgreSQL) and REDIS_URL set.")
    call_command("migrate", verbosity=0)
    # This process is the worker: it runs with the worker's collector settings (config.collector).
    tune_garbage_collector()
    app.conf.task_always_eager = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.API_RATE_LIMIT_PER_MINUTE = 10**9
    mail.outbox = []
    run = uuid.uuid4().hex[:8]
    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [
            user_model(username=f"bench-{run}-{n}", email=f"bench-{run}-{n}@example.com")
            for n in range(args.deliveries)
        ]
    )

    # Delivery goes only to confirmed addresses.
    ContactPoint.objects.bulk_create(
        [ContactPoint(user=user, email_verified=user.email) for user in users]
    )

    def make_rows(label: str, channel: str = Channel.EMAIL, recipients=None) -> list[int]:
        now = timezone.now()
        notifications = Notification.objects.bulk_create(
            [
                Notification(
                    recipient=user,
                    kind="event_updated",
                    title=f"Quiz night moved ({label})",
                    body="Now at 20:00 in the library hall.",
                    url="/events/1/",
                    dedupe_key=f"bench:{run}:{label}",
                )
                for user in (recipients or users)
            ]
        )
        deliveries = Delivery.objects.bulk_create(
            [
                Delivery(notification=n, channel=channel, next_attempt_at=now)
                for n in notifications
            ]
        )
        return [delivery.pk for delivery in deliveries]

    try:
        if args.mobile_only:
            mobile = bench_mobile(args.mobile, users, make_rows)
            print(f"# {platform.node()} python {platform.python_version()}, PostgreSQL + Redis")
            print(f"# command: {' '.join(sys.argv)}")
            print_mobile(args.mobile, mobile)
            return
        ids = make_rows("batched")
        started = time.perf_counter()
        enqueue_deliveries(ids, priority="normal")
        batched_s = time.perf_counter() - started
        assert Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.SENT).count() == len(ids)

        ids = make_rows("single")
        started = time.perf_counter()
        for delivery_id in ids:
            tasks.deliver(delivery_id)
        single_s = time.perf_counter() - started
        assert Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.SENT).count() == len(ids)

        mobile = bench_mobile(args.mobile, users, make_rows) if args.mobile else None
        mobile_s = mobile.seconds if mobile else 0.0

        _, raw_key = api_key_create(name=f"bench-{run}")
        client = Client()
        bodies = [
            (f"{run}-{n}", f'{{"kind": "event_updated", "recipients": [{users[n % len(users)].pk}]}}')
            for n in range(args.requests)
        ]

        def post_all() -> float:
            started = time.perf_counter()
            for key, body in bodies:
                response = client.post(
                    "/api/v1/notifications",
                    data=body,
                    content_type="application/json",
                    headers={"X-Api-Key": raw_key, "Idempotency-Key": key},
                )
                assert response.status_code == 201, response.content
            return time.perf_counter() - started

        api_s = post_all()
        replay_s = post_all()
    finally:
        Notification.objects.filter(recipient__in=users).delete()
        user_model.objects.filter(username__startswith=f"bench-{run}-").delete()
        ApiKey.objects.filter(name=f"bench-{run}").delete()

    n = args.deliveries
    print(f"# {platform.node()} python {platform.python_version()}, PostgreSQL + Redis")
    print(f"# command: {' '.join(sys.argv)}")
    print(f"batched:  {n} email rows in {batched_s:.2f} s")
    print(f"one by one: {n} email rows in {single_s:.2f} s")
    if mobile:
        print_mobile(args.mobile, mobile)
    print(f"api: {args.requests} requests in {api_s:.2f} s, replays in {replay_s:.2f} s")
    print(
        f"delivery deliveries={n} sent_per_s={n / batched_s:.0f} single_per_s={n / single_s:.0f} "
        f"mobile_per_s={args.mobile / mobile_s if mobile_s else 0:.0f} "
        f"api_per_s={args.requests / api_s:.0f} replay_per_s={args.requests / replay_s:.0f}"
    )


@dataclass
class MobileRun:
    seconds: float
    # CPU seconds (user + system, every thread) of this process, which is the worker here, and
    # of the fake APNs/FCM process: on a shared machine the wall-clock rate depends on what the
    # others leave, the CPU cost per row does not.
    worker_cpu: float
    fake_cpu: float
    # 1-minute load average just before and just after the timed part.
    load_before: float
    load_after: float


def print_mobile(count: int, run: MobileRun) -> None:
    print(f"mobile: {count} push rows through the fake APNs/FCM in {run.seconds:.2f} s; "
          f"worker CPU {run.worker_cpu:.2f} s, fake CPU {run.fake_cpu:.2f} s; "
          f"load average {run.load_before:.2f} -> {run.load_after:.2f} on {os.cpu_count()} CPUs")
    print(f"worker process: {count / run.seconds:.0f} rows/s wall clock, "
          f"{count / run.worker_cpu:.0f} rows per CPU second of its own")
    print(
        f"mobile rows={count} mobile_per_s={count / run.seconds:.0f} "
        f"worker_cpu_s_per_1000={run.worker_cpu * 1000 / count:.2f} "
        f"per_worker_cpu_s={count / run.worker_cpu:.0f} "
        f"fake_cpu_s_per_1000={run.fake_cpu * 1000 / count:.2f} "
        f"load={run.load_before:.2f}-{run.load_after:.2f}"
    )


def bench_mobile(count: int, users, make_rows) -> MobileRun:
    """Send ``count`` phone-app rows through the fake APNs and FCM services (in a process of
    their own) as a worker would; time it and count both processes' CPU."""
    import json
    import subprocess
    import tempfile

    import psutil
    from django.conf import settings

    from notifications.delivery import enqueue_deliveries
    from notifications.models import Channel, Delivery, DeliveryStatus, MobileDevice
    from tests.fakes import mobile_push as fake

    recipients = users[:count]
    if len(recipients) < count:
        sys.exit("--mobile may not exceed --deliveries (one device per bench user)")
    MobileDevice.objects.bulk_create(
        [
            MobileDevice(user=user, platform="ios", token=f"{n:064x}")
            if n % 2 == 0
            else MobileDevice(user=user, platform="android", token=f"fcm-bench-token-{n:08d}")
            for n, user in enumerate(recipients)
        ]
    )

    def cpu(process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as apns_folder, tempfile.TemporaryDirectory() as fcm_folder:
        # APNs and FCM in a process each (two origins, two connections, as in production), so
        # neither stand-in shares a core with the other or with the worker measured here.
        servers = [
            subprocess.Popen([sys.executable, "-m", "tests.fakes.mobile_push", folder],
                             cwd=root, stdout=subprocess.PIPE, text=True)
            for folder in (apns_folder, fcm_folder)
        ]
        try:
            for server in servers:
                assert server.stdout.readline().strip() == "ready"
            apns = json.loads((Path(apns_folder) / "fake-push.json").read_text())
            fcm = json.loads((Path(fcm_folder) / "fake-push.json").read_text())
            settings.APNS_URL, settings.FCM_URL = apns["url"], fcm["url"]
            # One CA file that trusts both stand-ins' certificates.
            ca_file = Path(apns_folder) / "both-ca.pem"
            ca_file.write_text(Path(apns["ca_file"]).read_text() + Path(fcm["ca_file"]).read_text())
            settings.MOBILE_PUSH_CA_FILE = str(ca_file)
            settings.APNS_KEY_ID, settings.APNS_TEAM_ID = fake.APNS_KEY_ID, fake.APNS_TEAM_ID
            settings.APNS_PRIVATE_KEY = apns["apns_private_key"]
            settings.APNS_TOPIC = fake.APNS_TOPIC
            settings.FCM_SERVICE_ACCOUNT_JSON = json.dumps(fcm["service_account"])
            ids = make_rows("mobile", Channel.MOBILE, recipients)
            worker = psutil.Process()
            fakes = [psutil.Process(server.pid) for server in servers]
            load_before = os.getloadavg()[0]
            worker_before, fake_before = cpu(worker), sum(map(cpu, fakes))
            started = time.perf_counter()
            enqueue_deliveries(ids, priority="normal")
            elapsed = time.perf_counter() - started
            worker_cpu, fake_cpu = cpu(worker) - worker_before, sum(map(cpu, fakes)) - fake_before
            load_after = os.getloadavg()[0]
        finally:
            for server in servers:
                server.terminate()
                server.wait()
    sent = Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.SENT).count()
    assert sent == len(ids), f"{sent} of {len(ids)} mobile rows sent"
    return MobileRun(elapsed, worker_cpu, fake_cpu, load_before, load_after)


if __name__ == "__main__":
    main()
