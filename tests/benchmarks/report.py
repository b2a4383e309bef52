"""Prints benchmark figures as a Markdown table, ready to paste into RESULTS.md."""

from __future__ import annotations

import platform
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import date

import psutil


@dataclass(frozen=True)
class Row:
    figure: str
    eventdesk: str
    reference: str
    target: str


def machine() -> str:
    cpus = psutil.cpu_count(logical=True)
    memory = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.system()} {platform.machine()}, {cpus} CPUs, {memory:.0f} GiB, "
        f"Python {platform.python_version()}"
    )


def print_table(title: str, rows: list[Row], *, reference: str = "kcat") -> None:
    print(f"\n### {title}\n")
    print(f"{date.today().isoformat()} · {machine()}\n")
    print(f"| figure | Eventdesk | reference ({reference}, same run) | target |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row.figure} | {row.eventdesk} | {row.reference} | {row.target} |")


def kcat_read(bootstrap: str, topic: str, count: int, fmt: str) -> tuple[float, bytes] | None:
    """kcat reading the whole topic with `-f fmt` (one line per message): seconds and output.

    None when kcat is missing; exits when it read another number of messages than `count`.
    """
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat is None:
        return None
    started = time.perf_counter()
    out = subprocess.run(
        [kcat, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", fmt],
        capture_output=True,
        check=True,
    ).stdout
    elapsed = time.perf_counter() - started
    read = out.count(b"\n")
    if read != count:
        raise SystemExit(f"kcat read {read:,} messages, expected {count:,}")
    return elapsed, out
