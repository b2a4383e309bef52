"""Where Eventdesk keeps the user's files: the config and data folders.

EVENTDESK_CONFIG_DIR and EVENTDESK_DATA_DIR override the platform's folders (tests, scripts,
a portable setup).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def config_dir() -> Path:
    """Settings the operator edits: connections, alert rules."""
    override = os.environ.get("EVENTDESK_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir("eventdesk"))


def data_dir() -> Path:
    """What Eventdesk records: the journal, the event log, the metrics history."""
    override = os.environ.get("EVENTDESK_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir("eventdesk"))
