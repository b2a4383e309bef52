"""A throwaway nats-server with JetStream, for tests that need a server to themselves.

The shared server's advisory subjects already belong to one capture stream (JetStream
gives each subject to one stream), so creating a capture stream needs a fresh server.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(monitor_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{monitor_port}/healthz", timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def private_jetstream(store: Path, *, config: str | None = None) -> Iterator[str]:
    """Starts nats-server -js storing in `store`; yields its URL; stops it afterwards.

    `config` is the text of a server config file (e.g. an `authorization` block); the
    command line still decides address, ports and storage.
    """
    server = shutil.which("nats-server")
    assert server, "nats-server is not installed (packaging/setup-debian.sh)"
    port, monitor_port = _free_port(), _free_port()
    args = ["-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor_port)]
    if config is not None:
        store.mkdir(parents=True, exist_ok=True)
        config_file = store / "nats-server.conf"
        config_file.write_text(config, encoding="utf-8")
        args += ["-c", str(config_file)]
    process = subprocess.Popen(
        [server, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 15
        while not _healthy(monitor_port):
            assert process.poll() is None, "the private nats-server exited at start"
            assert time.monotonic() < deadline, "the private nats-server did not become healthy"
            time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
