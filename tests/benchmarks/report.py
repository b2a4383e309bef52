"""Prints benchmark figures as a Markdown table, ready to paste into RESULTS.md."""

from __future__ import annotations

import platform
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
