"""Before the suite: PostgreSQL, Redis and Chromium must be there.

A service that does not answer is started when a local installation exists; otherwise this
stops with a message naming exactly what to install. Nothing here is imported by the tests.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(host, port):
            return True
        time.sleep(0.3)
    return False


def start_postgres() -> None:
    if shutil.which("pg_ctlcluster") and glob.glob("/etc/postgresql/*/main"):
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False
        )


def start_redis() -> None:
    if shutil.which("redis-server"):
        subprocess.run(
            ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379",
             "--save", "", "--appendonly", "no"],
            check=False,
        )


def ensure_service(name: str, url: str, default_port: int, starter, install_hint: str) -> None:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    if answers(host, port):
        return
    if host in {"127.0.0.1", "localhost"}:
        print(f"{name} is not answering on {host}:{port}; trying to start the local one...")
        starter()
        if wait_for(host, port):
            print(f"{name} started.")
            return
    sys.exit(
        f"{name} is not answering on {host}:{port} and could not be started.\n"
        f"Install it ({install_hint}) or point {name.upper()}_URL at a running server."
    )


def ensure_chromium() -> None:
    if os.path.exists("/usr/bin/chromium"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("Chromium is missing; installing Debian's chromium package for the browser tests...")
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        result = subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False)
        if result.returncode == 0 and os.path.exists("/usr/bin/chromium"):
            return
    sys.exit(
        "The browser tests need Chromium at /usr/bin/chromium: install it with "
        "'sudo apt-get install -y chromium' (Debian/Ubuntu package)."
    )


def main() -> None:
    ensure_service(
        "Database",
        os.environ["DATABASE_URL"],
        5432,
        start_postgres,
        "Debian/Ubuntu: 'sudo apt-get install -y postgresql'",
    )
    ensure_service(
        "Redis",
        os.environ["REDIS_URL"],
        6379,
        start_redis,
        "Debian/Ubuntu: 'sudo apt-get install -y redis-server'",
    )
    ensure_chromium()


if __name__ == "__main__":
    main()
