"""The cyclic garbage collector, tuned for the product's long-lived processes: the web processes
(``manage.py serve``, before they serve) and the Celery worker (before it takes tasks)."""

import gc

from django.conf import settings


def tune_garbage_collector() -> None:
    """What is loaded by now (Django, the apps, the libraries) lives as long as the process, so
    it is kept out of the collector's full sweeps, which would otherwise walk it again and again:
    a 10,000-recipient fan-out set off a full sweep of about 100 ms in about half its runs. The
    young generation is swept every ``GC_THRESHOLD`` allocations instead of every 700."""
    gc.freeze()
    if settings.GC_THRESHOLD:
        gc.set_threshold(settings.GC_THRESHOLD, *gc.get_threshold()[1:])
