"""Opening a dead-letter endpoint in the main window, and waiting until its table has loaded."""

from __future__ import annotations

from eventdesk.gui.main_window import MainWindow
from eventdesk.gui.message_table_model import MessageTableModel

from .conftest import LoopDriver


def open_loaded(
    driver: LoopDriver,
    window: MainWindow,
    connection: str,
    endpoint: str,
    rows: int,
    *,
    timeout: float = 20,
) -> MessageTableModel:
    """Open `endpoint` of `connection` and wait until at least `rows` rows are loaded."""
    assert window.open_endpoint_named(connection, endpoint)
    model = window.browser.model
    driver.until(lambda: model.loaded_count >= rows and not model.is_loading, timeout=timeout)
    return model


def until_reopened(
    driver: LoopDriver,
    window: MainWindow,
    connection: str,
    endpoint: str,
    *,
    empty: bool,
    timeout: float,
    message: str,
) -> None:
    """Wait until the window shows `endpoint` again after an action, loaded and (not) empty."""
    model = window.browser.model
    driver.until(
        lambda: (
            window.open_endpoint == (connection, endpoint)
            and model.browser is not None
            and not model.is_loading
            and (model.loaded_count == 0 if empty else model.loaded_count > 0)
        ),
        timeout=timeout,
        message=message,
    )
