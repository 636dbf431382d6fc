"""The peer in ``bench/fanout.py``: django-notifications-community's ``notify.send`` to a group.

Run by ``bench/fanout.py`` in a process of its own, never imported with Herald: the library's
package is also called ``notifications`` (and so is its table), so it lives in a database of
its own on the same PostgreSQL server, with the same users (ids and names) as Herald's run:

    .venv/bin/python bench/peer_notifications.py --database herald_bench_peer --users 10000

Makes the users, puts them in one group, then times ``notify.send(actor, recipient=group, …)``
inside a transaction up to its commit, as Herald's ``persisted`` is timed. Prints one line:
``peer rows=<n> seconds=<s>``. ``bench/fanout.py`` installs ``django-notifications-community``
into a folder of its own and puts it on ``PYTHONPATH`` for this process.
"""

import argparse
import gc
import sys
import time
from pathlib import Path

# The library's `notifications`, not Herald's: the project root must not be on the path.
ROOT = str(Path(__file__).resolve().parent.parent)
sys.path[:] = [entry for entry in sys.path if entry not in ("", ROOT)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", required=True, help="a database of its own (migrated here)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5432")
    parser.add_argument("--user", default="postgres")
    parser.add_argument("--password", default="")
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--first-id", type=int, default=1, help="id of the first user")
    parser.add_argument("--gc-threshold", type=int, default=0,
                        help="run with Herald's collector settings: what is loaded at start "
                             "frozen, this young-generation threshold (0: Python's defaults)")
    args = parser.parse_args()

    import django
    from django.conf import settings

    settings.configure(
        DEBUG=False,
        SECRET_KEY="bench-only",
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "notifications"],
        DATABASES={"default": {
            "ENGINE": "django.db.backends.postgresql", "NAME": args.database,
            "HOST": args.host, "PORT": args.port, "USER": args.user, "PASSWORD": args.password,
        }},
    )
    django.setup()
    import notifications
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.db import transaction
    from notifications.models import Notification
    from notifications.signals import notify

    herald_package = str(Path(ROOT, "notifications", "__init__.py"))
    assert notifications.__file__ != herald_package, "imported Herald's notifications"
    call_command("migrate", verbosity=0)
    if args.gc_threshold:  # as Herald's processes (config.collector), for a like-for-like run
        gc.freeze()
        gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])
    User.objects.bulk_create(
        [User(pk=args.first_id + n, username=f"fanout-peer-{n}", password="!")
         for n in range(args.users)],
        batch_size=2000,
    )
    group = Group.objects.create(name="bench-followers")
    membership = User.groups.through
    membership.objects.bulk_create(
        [membership(user_id=args.first_id + n, group_id=group.pk) for n in range(args.users)],
        batch_size=2000,
    )
    # Its id given too: the explicit ids above did not move the table's sequence, which in a new
    # database would hand out one of them again.
    actor = User.objects.create(
        pk=args.first_id + args.users, username="fanout-peer-organizer", password="!"
    )
    User.objects.exists()  # a warm connection, as Herald's run has

    started = time.perf_counter()
    with transaction.atomic():
        notify.send(
            actor, recipient=group, verb="updated", description="Bench night was updated",
        )
    seconds = time.perf_counter() - started
    rows = Notification.objects.count()
    print(f"peer rows={rows} seconds={seconds:.4f}")


if __name__ == "__main__":
    main()
