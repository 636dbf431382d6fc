"""Fixtures of the chaos suite: a migrated PostgreSQL template per session, a fresh stack (its
own Redis, its own PostgreSQL copy, real processes) per test."""

import shutil

import pytest

from tests.chaos.stack import Stack, build_template, postgres_bin
from tests.smtp_server import SmtpServer


@pytest.fixture(scope="session")
def pg_template():
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    postgres_bin("initdb")
    template = build_template()
    yield template
    template.remove()


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.close()


@pytest.fixture
def make_stack(pg_template, tmp_path, request):
    """``make_stack(**env)``: start this test's services; processes are started by the test."""
    stacks = []

    def make(**env):
        stack = Stack(tmp_path, pg_template, **env)
        stacks.append(stack)
        return stack

    yield make
    failed = getattr(request.node, "rep_call", None)
    for stack in stacks:
        if failed is not None and failed.failed:
            print(stack.logs()[-20000:])
        stack.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.rep_call = report
    return report
