"""Scorer backends for tests, chosen through ``LEADERBOARD_SCORER`` like any other."""

import time

import redis
from django.conf import settings

from leaderboard.scorers import LocalScorer, ScorerError

GATE_KEY = "herald-test:scoring-gate"


def open_gate() -> None:
    redis.Redis.from_url(settings.REDIS_URL).set(GATE_KEY, 1, ex=60)


class GatedScorer(LocalScorer):
    """The local scorer, once a test opens the gate (a Redis key, so it also holds a scorer
    running in the browser tests' server process): the game stays "scoring…" until then."""

    def score(self, request):
        client = redis.Redis.from_url(settings.REDIS_URL)
        deadline = time.monotonic() + 20
        while not client.exists(GATE_KEY):
            if time.monotonic() > deadline:
                raise ScorerError("the test never opened the scoring gate")
            time.sleep(0.02)
        return super().score(request)
