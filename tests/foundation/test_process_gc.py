"""Web and worker processes tune the cyclic garbage collector before they work (GC_THRESHOLD)."""

import gc

import pytest

from config.collector import tune_garbage_collector


@pytest.fixture
def collector_restored():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector_restored")
def test_the_young_generation_threshold_comes_from_the_setting_and_what_is_loaded_is_frozen(
    settings,
):
    settings.GC_THRESHOLD = 12_345
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    tune_garbage_collector()
    assert gc.get_threshold() == (12_345, 10, 10)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("collector_restored")
def test_zero_keeps_pythons_threshold(settings):
    settings.GC_THRESHOLD = 0
    gc.set_threshold(700, 10, 10)
    tune_garbage_collector()
    assert gc.get_threshold() == (700, 10, 10)


@pytest.fixture
def untuned_collector(settings):
    """Python's own collector settings in this process, and a GC_THRESHOLD for a worker to set."""
    settings.GC_THRESHOLD = 23_456
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()


@pytest.mark.django_db(transaction=True)
def test_a_worker_tunes_it_before_it_takes_tasks(
    collector_restored, untuned_collector, celery_worker
):
    assert gc.get_threshold() == (23_456, 10, 10)
    assert gc.get_freeze_count() > 0
