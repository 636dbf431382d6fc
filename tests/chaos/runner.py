"""One Django process per chaos stack that forks a fresh child for each piece of test code.

Importing Django and the project costs seconds per process on a loaded machine, and the suite
runs test code in the stack's own environment a few dozen times. This process pays it once: it
sets Django up (opening no connection), then reads JSON requests on stdin, one a line, and
answers one JSON line each on stdout:

- ``{"op": "fork", "code": "...", "log": "/path"}``: fork a child that runs ``code`` with its
  output in ``/path`` (``RESULT=<json of result>`` last), in a session of its own so it can be
  signalled with its group; answers ``{"pid": N}``.
- ``{"op": "poll", "pid": N}``: answers ``{"status": exit code}``, or ``{"status": null}`` while
  the child runs (a child killed by a signal reports minus the signal number).

Each child is a new process with no connection of its parent's: it meets the services as they
are now (restarted, killed), as a newly started process would.
"""

import json
import os
import sys
import traceback

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connections  # noqa: E402

# What the tests' code uses, imported once here rather than in every child.
import notifications.realtime.push  # noqa: E402, F401
import notifications.selectors  # noqa: E402, F401
import notifications.services  # noqa: E402, F401
import notifications.tasks  # noqa: E402, F401
# Registers the fork guard of prometheus_client's lock: a child forked while the metrics
# sampler thread holds it would otherwise wait on it forever at its first metric.
import operations.metrics  # noqa: E402, F401

connections.close_all()


def run_child(code: str, log_path: str) -> None:
    os.setsid()
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    status = 0
    try:
        namespace = {"result": None, "__name__": "__chaos__"}
        exec(compile(code, "<chaos>", "exec"), namespace)
        print("RESULT=" + json.dumps(namespace["result"]), flush=True)
    except BaseException:  # noqa: BLE001 - reported in the log, exit status says it failed
        traceback.print_exc()
        status = 1
    finally:
        try:
            connections.close_all()
        except Exception:  # noqa: BLE001 - the database may be the thing that is down
            pass
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def main() -> None:
    answer = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "fork":
            answer.flush()
            pid = os.fork()
            if pid == 0:
                run_child(request["code"], request["log"])
            reply = {"pid": pid}
        else:
            try:
                done, status = os.waitpid(request["pid"], os.WNOHANG)
            except ChildProcessError:
                done, status = request["pid"], 0xFF00  # reaped before: report a failure
            reply = {"status": os.waitstatus_to_exitcode(status) if done else None}
        answer.write(json.dumps(reply) + "\n")
        answer.flush()


if __name__ == "__main__":
    main()
