"""Imports run one way (tasks import services, never the reverse) and every task a service
queues by name is a registered task (docs/architecture.md)."""

import ast
import re
import subprocess
from pathlib import Path

from config.celery import app

ROOT = Path(__file__).resolve().parents[2]


def project_modules() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        ROOT / name for name in names
        if not name.startswith(("tests/", "bench/")) and "/migrations/" not in name
    ]


def imports_of_task_modules(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [alias.name for alias in node.names]
            if module.endswith(".tasks") or "tasks" in names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {module} import ...")
        elif isinstance(node, ast.Import):
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} import {alias.name}"
                for alias in node.names if alias.name.endswith(".tasks")
            ]
    return found


def test_only_task_modules_import_task_modules():
    # A service that imported tasks.py (whose tasks import the services) would close a cycle,
    # and hiding it inside a function is what this rules out: services queue tasks by name.
    offenders = [
        line for path in project_modules() if path.name != "tasks.py"
        for line in imports_of_task_modules(path)
    ]
    assert offenders == []


def test_every_task_queued_by_name_is_registered():
    queued = set()
    for path in project_modules():
        text = path.read_text()
        queued |= set(re.findall(r'enqueue\(\s*"([\w.]+)"', text))
        queued |= set(re.findall(r'^\w+_TASK = "([\w.]+)"', text, re.MULTILINE))
    assert queued, "no enqueue(...) found: the pattern above is out of date"
    assert sorted(queued - set(app.tasks)) == []


def test_the_realtime_entry_module_is_its_docstring_alone():
    # Importing notifications.realtime.push (the pipeline does) must not load the consumer or the
    # routes through the package: the entry module documents the part and wires nothing.
    body = ast.parse((ROOT / "notifications/realtime/__init__.py").read_text()).body
    assert len(body) == 1 and isinstance(body[0], ast.Expr)
    assert isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)
