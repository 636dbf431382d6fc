"""A web process tunes the cyclic garbage collector before it serves (WEB_GC_THRESHOLD)."""

import gc

import pytest

from config.management.commands.serve import tune_garbage_collector


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
    settings.WEB_GC_THRESHOLD = 12_345
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    tune_garbage_collector()
    assert gc.get_threshold() == (12_345, 10, 10)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("collector_restored")
def test_zero_keeps_pythons_threshold(settings):
    settings.WEB_GC_THRESHOLD = 0
    gc.set_threshold(700, 10, 10)
    tune_garbage_collector()
    assert gc.get_threshold() == (700, 10, 10)
