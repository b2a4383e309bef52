"""Window size, docks and splitter sizes are kept across runs, in the (isolated) config dir."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from eventdesk.gui.main_window import MainWindow
from eventdesk.gui.window_state import WindowStateStore, settings_path

from .conftest import LoopDriver

OpenWindow = Callable[[], MainWindow]


@pytest.fixture
def open_window(driver: LoopDriver) -> Iterator[OpenWindow]:
    """A fresh MainWindow per call, as a new run of the app would make (no connections)."""
    windows: list[MainWindow] = []

    def open_() -> MainWindow:
        window = MainWindow([])
        windows.append(window)
        window.show()
        driver.settle()
        return window

    yield open_
    for window in windows:
        close(window, driver)
        shiboken6.delete(window)


def close(window: MainWindow, driver: LoopDriver) -> None:
    if window.isVisible():
        window.close()
        driver.run(window.wait_closed())


def test_settings_live_in_the_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("EVENTDESK_CONFIG_DIR", str(tmp_path / "elsewhere"))
    assert settings_path() == tmp_path / "elsewhere" / "window.ini"


def test_layout_comes_back_in_the_next_run(open_window: OpenWindow, driver: LoopDriver):
    first = open_window()
    # Qt fits a restored window to its screen, and the offscreen one is 800 px wide, less
    # than the window's minimum width: so the width is that minimum in both runs.
    first.resize(first.minimumSizeHint().width(), 720)  # not the default 1400x850
    first.content_stack.setCurrentWidget(first.right_splitter)  # as with an endpoint open
    driver.settle()
    first.main_splitter.setSizes([280, 900])
    first.right_splitter.setSizes([300, 150])
    first.errors_dock.show()
    driver.settle()
    size = (first.width(), first.height())
    assert size[1] == 720
    splitter_sizes = (first.main_splitter.sizes(), first.right_splitter.sizes())
    assert not settings_path().exists()
    close(first, driver)
    assert settings_path().exists()

    second = open_window()
    second.content_stack.setCurrentWidget(second.right_splitter)
    driver.settle()
    assert (second.width(), second.height()) == size
    assert (second.main_splitter.sizes(), second.right_splitter.sizes()) == splitter_sizes
    assert second.errors_dock.isVisible()


def test_a_new_run_without_saved_layout_keeps_the_defaults(open_window: OpenWindow):
    window = open_window()
    assert not window.window_state.restore(window)
    assert not window.errors_dock.isVisible()


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xff garbage \x89PNG\r\n",
        b"[window]\ngeometry=not bytes\nstate=@ByteArray(nonsense)\n"
        b"[splitters]\nmain-splitter=@ByteArray(\\0\\0)\n",
    ],
    ids=["binary-garbage", "wrong-values"],
)
def test_a_damaged_layout_file_is_ignored(open_window: OpenWindow, content: bytes):
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_bytes(content)
    window = open_window()  # restores on show: must not raise
    assert window.isVisible()
    assert all(size > 0 for size in window.main_splitter.sizes())


def test_an_unwritable_config_dir_only_warns(
    open_window: OpenWindow, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    window = open_window()
    store = WindowStateStore(blocker / "window.ini")
    assert store.save(window) is False
    assert "Cannot keep the window layout" in caplog.text


def test_a_window_never_shown_saves_nothing(driver: LoopDriver):
    window = MainWindow([])
    window.close()
    driver.run(window.wait_closed())
    shiboken6.delete(window)
    assert not settings_path().exists()


def test_a_maximized_window_opens_maximized(open_window: OpenWindow, driver: LoopDriver):
    first = open_window()
    first.showMaximized()
    driver.until(first.isMaximized)
    close(first, driver)

    second = open_window()
    assert second.isMaximized()
