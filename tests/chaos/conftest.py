"""Fixtures of the chaos suite: a migrated PostgreSQL template (kept between runs), a fresh
stack (its own Redis, its own PostgreSQL copy, real processes) per test."""

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.chaos.stack import Stack, cached_template, finish_removals, postgres_bin
from tests.smtp_server import SmtpServer


@pytest.fixture(scope="session")
def pg_template():
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    postgres_bin("initdb")
    yield cached_template()
    finish_removals()


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def make_stack(pg_template, request):
    """``make_stack(**env)``: start this test's services; processes are started by the test.
    The processes' logs stay in a ``/tmp/herald-chaos-*`` folder when the test fails."""
    stacks = []
    workdir = Path(tempfile.mkdtemp(prefix=f"herald-chaos-{request.node.name[:40]}-"))

    def make(**env):
        stack = Stack(workdir, pg_template, **env)
        stacks.append(stack)
        return stack

    yield make
    report = getattr(request.node, "rep_call", None)
    failed = report is None or report.failed
    for stack in stacks:
        stack.close()
        if failed:
            print(f"Logs in {workdir}:\n{stack.log_tails()}")
    if not failed:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
