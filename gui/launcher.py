"""The `eventdesk` command: its subcommands run without Qt; anything else opens the window."""

from __future__ import annotations

import sys
from collections.abc import Sequence

# Served by connectors/cli.py on the same engine as the GUI, with no Qt loaded at all.
CLI_COMMANDS = frozenset({"replay", "discard", "purge", "history", "report"})


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in CLI_COMMANDS:
        from eventdesk.connectors import cli

        return cli.main(argv)
    from .app import main as open_window

    return open_window(argv)
