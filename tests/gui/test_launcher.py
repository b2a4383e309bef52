"""The `eventdesk` command's subcommands must not pay for (or need) Qt."""

from __future__ import annotations

import json
import subprocess
import sys


def test_history_runs_without_loading_qt(tmp_path):
    code = (
        "import sys\n"
        "from eventdesk.gui.launcher import main\n"
        "status = main(['history', '--json'])\n"
        "print('QT-LOADED' if 'PySide6' in sys.modules else 'QT-ABSENT', file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    env = {"EVENTDESK_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "QT-ABSENT" in done.stderr
    assert json.loads(done.stdout) == []  # a fresh journal: no actions yet
