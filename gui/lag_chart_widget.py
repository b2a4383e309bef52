"""A live time-series chart: ring buffers per series, redrawn on a timer, with a crosshair.

Shaped after pyqtgraph's `examples/scrollingPlots.py`: samples go into preallocated numpy
buffers and only a timer calls `setData`, so a burst of samples costs one redraw; a hidden
chart does not redraw. Each curve is given only the points in view, decimated to the
plot's pixels (`visible_points`), so a change of the view's range alone redoes no curve.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QPen, QShowEvent
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from .chart_legend import ChartLegend

REDRAW_MS = 50
# Charts shown together (the Monitor's first show) paint their first frame this far apart.
FIRST_PAINT_GAP_MS = 30
# New curves made per redraw turn (see LagChartWidget._add_curves).
_CURVES_PER_TURN = 2
# A buffer starts small and doubles up to this many points (a day at 5 s is 17 280).
MAX_POINTS = 20_000
_START_POINTS = 256
STALE_COLOR = "#9e9e9e"
# pyqtgraph's default: points further off screen than this many view heights are clamped
# (Qt fails to paint huge coordinates when zoomed in far).
_RANGE_LIMIT = 1e6
# While following, the time axis slides in steps of this share of the window (10 s of
# 5 minutes), and the value axis ends at a round number, changed only when the data
# outgrow it or fall well below it. An axis whose range stays put keeps its drawing
# cached; drawing both axes' text and grid again on every round was about half of a
# chart's redraw and paint (tests/benchmarks/RESULTS.md, Monitor, eleventh round).
FOLLOW_STEPS = 30
# The value axis ends at this at the least: an idle group's lag on 0-1 was labelled
# 0.2, 0.4, 0.6 and 0.8 messages.
MIN_TOP = 5.0
_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)


def visible_points(
    x: np.ndarray, y: np.ndarray, left: float, right: float, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """The points of a time-ordered series from `left` to `right`, with one more on each
    side so that the line runs to the plot's edges, decimated to about `bins` pairs when
    there are more than twice as many: each bin's highest and lowest value (pyqtgraph's
    "peak" mode), so a spike one sample wide still shows. The newest points are kept as
    they are, so the line ends at the latest value."""
    first = max(int(np.searchsorted(x, left)) - 1, 0)
    end = min(int(np.searchsorted(x, right, side="right")) + 1, len(x))
    x, y = x[first:end], y[first:end]
    if bins < 1 or len(x) <= 2 * bins:
        return x, y
    per_bin = -(-len(x) // bins)
    whole = (len(x) - 1) // per_bin  # the last point is never in a bin
    binned = y[: whole * per_bin].reshape(whole, per_bin)
    peaks = np.empty((whole, 2))
    peaks[:, 0] = binned.max(axis=1)
    peaks[:, 1] = binned.min(axis=1)
    at = np.repeat(x[per_bin // 2 : whole * per_bin : per_bin], 2)
    rest = slice(whole * per_bin, None)
    return np.concatenate((at, x[rest])), np.concatenate((peaks.ravel(), y[rest]))


def nice_ceiling(value: float) -> float:
    """The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of
    ten) that is at least `value`; 1 at the least."""
    if value <= 1.0:
        return 1.0
    power = 10.0 ** np.floor(np.log10(value))
    return float(next(n * power for n in _NICE if n * power >= value))


class CountAxis(pg.AxisItem):
    """A value axis labelled 1,000,000 and 500,000, not 1e+06 and 500000."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if spacing * scale >= 1:
            return [f"{value * scale:,.0f}" for value in values]
        return super().tickStrings(values, scale, spacing)


class SeriesBuffer:
    """Preallocated (time, value) arrays; when full, the oldest half is dropped in one move."""

    def __init__(self, capacity: int = MAX_POINTS) -> None:
        self.capacity = capacity
        size = min(_START_POINTS, capacity)
        self._x = np.empty(size, dtype=np.float64)
        self._y = np.empty(size, dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def append(self, at: float, value: float) -> None:
        if self._n == len(self._x):
            self._make_room()
        self._x[self._n] = at
        self._y[self._n] = value
        self._n += 1

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Many points at once, in time order (history on open): one copy, not a loop."""
        xs, ys = xs[-self.capacity :], ys[-self.capacity :]
        need = self._n + len(xs)
        if need > len(self._x) and len(self._x) < self.capacity:
            self._resize(min(self.capacity, max(need, len(self._x) * 2)))
        if need > len(self._x):  # at capacity: the oldest make way
            self._keep_newest(min(self._n, self.capacity - len(xs)))
        self._x[self._n : self._n + len(xs)] = xs
        self._y[self._n : self._n + len(ys)] = ys
        self._n += len(xs)

    def _make_room(self) -> None:
        """Double up to the capacity; when full, drop the oldest half in one move."""
        if len(self._x) < self.capacity:
            self._resize(min(self.capacity, len(self._x) * 2))
        else:
            self._keep_newest(self.capacity // 2)

    def _resize(self, size: int) -> None:
        self._x = np.resize(self._x, size)
        self._y = np.resize(self._y, size)

    def _keep_newest(self, keep: int) -> None:
        self._x[:keep] = self._x[self._n - keep : self._n]
        self._y[:keep] = self._y[self._n - keep : self._n]
        self._n = keep

    @property
    def x(self) -> np.ndarray:
        return self._x[: self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self._n]

    def last(self) -> float | None:
        return float(self._y[self._n - 1]) if self._n else None


_PenSpec = tuple[str, bool]  # (colour, dashed: its broker is unreachable)


def _pen(spec: _PenSpec) -> QPen:
    colour, dashed = spec
    style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    return pg.mkPen(colour, width=2, style=style)


class LagChartWidget(QWidget):
    """One plot of several series keyed by any hashable; only `shown` keys are drawn.

    `append` only writes to a buffer and marks the chart dirty; the redraw timer does
    the rest. While `follow` is on, the x range slides to the last `window` seconds;
    a manual pan or zoom turns it off until a window preset is chosen again. Paused,
    it draws nothing newer than the moment it was paused, wherever the view goes.
    """

    # When any chart last redrew (time.monotonic): charts take turns.
    _last_redraw_at = 0.0
    # When the next chart shown for the first time may paint (time.monotonic).
    _next_first_paint_at = 0.0

    def __init__(
        self,
        title: str,
        *,
        label: Callable[[Hashable], str] = str,
        y_label: str = "messages",
        step_phase: float = 0.0,
        parent: QWidget | None = None,
    ) -> None:
        """`step_phase`: where in each step (0 to 1) this chart's time axis moves. Charts
        shown together move theirs at different times: a moved axis is drawn anew, and
        the Monitor's stalls over 50 ms came at those moves (RESULTS.md, twelfth round)."""
        super().__init__(parent)
        self._step_phase = step_phase
        self._label = label
        self._buffers: dict[Hashable, SeriesBuffer] = {}
        self._curves: dict[Hashable, pg.PlotDataItem] = {}
        self._pens: dict[Hashable, _PenSpec] = {}  # what each curve is drawn with
        self._shown: list[Hashable] = []
        # The same keys as a set: `append` runs per sample (thousands per round), and a
        # list lookup there compares dataclass keys one by one.
        self._shown_set: set[Hashable] = set()
        self._stale: set[Hashable] = set()
        self._dirty = False
        self._paused_at: float | None = None  # time.time() when paused
        self._bins = 0  # the plot's width the curves were last decimated for
        self.window = 300.0
        self.follow = True
        self.redraws = 0  # how many times setData ran; tests and benchmarks read it
        self._shown_before = False

        self.plot_widget = pg.PlotWidget(
            background="w",
            axisItems={
                "bottom": pg.DateAxisItem(orientation="bottom"),
                "left": CountAxis(orientation="left"),
            },
        )
        self.plot = self.plot_widget.getPlotItem()
        self.title = title
        self.plot.setTitle(title, color="#333", size="11pt")
        self.plot.setLabel("left", y_label)
        # Counts and rates are never negative, and "(x0.001)" on a flat zero line reads as
        # nonsense: no SI prefix, no room below zero.
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.getViewBox().setLimits(yMin=0)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        view_box = self.plot.getViewBox()
        view_box.sigRangeChangedManually.connect(self._on_view_range_manually)
        view_box.sigXRangeChanged.connect(self._on_x_range_changed)
        view_box.sigResized.connect(self._on_view_resized)
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen("#666")
            axis.setTextPen("#333")
            # Ticks and grid lines at the labelled and the first minor level only: the
            # finest level's grid lines are barely visible, yet drawing them was a third
            # of each paint (the left axis 6 ms of 15 here).
            axis.setStyle(maxTickLevel=1)
            # Drawn once per range, then copied: see FOLLOW_STEPS.
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot.disableAutoRange()
        self._followed: tuple[float, float, float] | None = None  # (left, right, top) set
        # Until the first samples: the window's times, not "00.100 … 00.900" (epoch 0).
        self._follow(time.time())

        self._vline = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#888", width=1))
        self._vline.hide()
        self.plot.addItem(self._vline, ignoreBounds=True)
        self.crosshair_label = QLabel(" ", self)
        self.crosshair_label.setTextFormat(Qt.TextFormat.RichText)
        self.plot_widget.scene().sigMouseMoved.connect(self._on_scene_mouse_moved)

        self.legend = ChartLegend(self)  # beside the plot, not over it

        chart_row = QHBoxLayout()
        chart_row.setContentsMargins(0, 0, 0, 0)
        chart_row.setSpacing(4)
        chart_row.addWidget(self.plot_widget, 1)
        chart_row.addWidget(self.legend)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(chart_row, 1)
        layout.addWidget(self.crosshair_label)

        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._shown_before:
            return
        self._shown_before = True
        # A chart's first paint lays out its axes and renders their text for the first
        # time: 15-25 ms. Charts shown together would all paint in one pass (the Monitor's
        # first show stalled the window 60-100 ms), so each waits its turn.
        now = time.monotonic()
        at = max(now, LagChartWidget._next_first_paint_at)
        LagChartWidget._next_first_paint_at = at + FIRST_PAINT_GAP_MS / 1000
        if at > now:
            self.plot_widget.setUpdatesEnabled(False)
            QTimer.singleShot(round((at - now) * 1000), self, self._on_first_paint_turn)

    def _on_first_paint_turn(self) -> None:
        self.plot_widget.setUpdatesEnabled(True)  # repaints it

    # -- data ------------------------------------------------------------------------

    def append(self, key: Hashable, at: float, value: float) -> None:
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = SeriesBuffer()
        buffer.append(at, value)
        self._changed(key)

    def extend(self, key: Hashable, xs: np.ndarray, ys: np.ndarray) -> None:
        """Many points of one series at once, in time order (history)."""
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = SeriesBuffer()
        buffer.extend(xs, ys)
        self._changed(key)

    def _changed(self, key: Hashable) -> None:
        """New points in a series: redraw if it is shown, unless paused."""
        if key in self._shown_set and self._paused_at is None:
            self._dirty = True

    def forget(self, keys: Iterable[Hashable]) -> None:
        """Drop the buffers of series no longer watched (their memory goes with them)."""
        for key in keys:
            self._buffers.pop(key, None)

    def keys(self) -> list[Hashable]:
        return list(self._buffers)

    def buffer(self, key: Hashable) -> SeriesBuffer | None:
        return self._buffers.get(key)

    def curve(self, key: Hashable) -> pg.PlotDataItem | None:
        """The drawn item of a shown series (its getData() is what is on screen)."""
        return self._curves.get(key)

    # -- what is shown ----------------------------------------------------------------

    def show_keys(self, keys: Iterable[Hashable]) -> None:
        """Draw these series, in this order; curves of series still shown are kept."""
        keys = list(keys)
        if keys == self._shown:
            return
        self._shown = keys
        self._shown_set = set(keys)
        for key in [k for k in self._curves if k not in self._shown_set]:
            item = self._curves.pop(key)
            self._pens.pop(key, None)
            self.plot.removeItem(item)
        self._restyle()  # kept curves may have moved (their colour); redoes the legend too
        if self._add_curves():
            # New curves repaint the chart: that is this turn's redraw for all charts.
            LagChartWidget._last_redraw_at = time.monotonic()
        self._dirty = True

    def _add_curves(self) -> int:
        """Curves for shown keys that have none, a few per call; the redraw ticks add the rest.
        How many it made. With pyqtgraph's legend, ten at once (the first round, the top
        groups changing) stalled the window ~100 ms; without it, ten take 15-28 ms, so a
        few per turn still keeps each turn short."""
        missing = [key for key in self._shown if key not in self._curves]
        for key in missing[:_CURVES_PER_TURN]:
            spec = self._pen_spec(key, self._shown.index(key))
            self._pens[key] = spec
            self._curves[key] = self.plot.plot(
                pen=_pen(spec),
                dynamicRangeLimit=self._range_limit(),
                skipFiniteCheck=True,  # samples are counts and rates, never NaN
            )
        made = len(missing[:_CURVES_PER_TURN])
        if made:
            self._update_legend()
        return made

    def set_title(self, title: str) -> None:
        if title != self.title:
            self.title = title
            self.plot.setTitle(title)  # keeps the colour and size the theme set

    def shown_keys(self) -> list[Hashable]:
        return list(self._shown)

    def set_stale(self, keys: Iterable[Hashable]) -> None:
        """Series whose broker is unreachable: drawn grey and dashed."""
        stale = set(keys)
        if stale == self._stale:
            return
        self._stale = stale
        self._restyle()

    def is_stale(self, key: Hashable) -> bool:
        return key in self._stale

    def set_window(self, seconds: float) -> None:
        self.window = seconds
        if not self.follow:
            self.follow = True
            self._apply_range_limit()
        self._followed = None
        self._dirty = True

    def set_paused(self, paused: bool) -> None:
        self._paused_at = time.time() if paused else None
        if not paused:
            self._dirty = True

    def _pen_spec(self, key: Hashable, index: int) -> _PenSpec:
        if key in self._stale:
            return (STALE_COLOR, True)
        return (pg.intColor(index, hues=max(8, len(self._shown))).name(), False)

    def _restyle(self) -> None:
        """New pens for curves whose colour or staleness changed, only those: a pen set on
        a curve redoes its data (pyqtgraph's updateItems)."""
        for i, key in enumerate(self._shown):
            item = self._curves.get(key)
            spec = self._pen_spec(key, i)
            if item is not None and self._pens.get(key) != spec:
                self._pens[key] = spec
                item.setPen(_pen(spec))
        self._update_legend()

    def _update_legend(self) -> None:
        """An entry per drawn curve, in the shown order, in its pen's colour and style."""
        self.legend.set_entries(
            [(self._label(key), *self._pens[key]) for key in self._shown if key in self._curves]
        )

    # -- drawing ---------------------------------------------------------------------

    def _on_timer_timeout(self) -> None:
        # Hidden (another tab, or the view not open): stay dirty, redraw once seen again.
        if not self._dirty or not self.isVisible():
            return
        # One chart per turn: charts dirtied by the same round would all repaint in one
        # paint pass (their axes are ~10-20 ms each), one long stall. The others stay
        # dirty and take the next ticks.
        now = time.monotonic()
        if 0 <= now - LagChartWidget._last_redraw_at < REDRAW_MS / 2000:
            return
        LagChartWidget._last_redraw_at = now
        self._add_curves()
        self._dirty = len(self._curves) < len(self._shown)  # more curves to add next turn
        if self.follow and self._paused_at is None:
            self._follow(time.time())
        left, right = self._drawn_span()
        bins = self._bins = max(int(self.plot.getViewBox().width()), 1)
        for key, item in self._curves.items():
            buffer = self._buffers.get(key)
            if buffer is not None:
                item.setData(*visible_points(buffer.x, buffer.y, left, right, bins))
        self.redraws += 1

    def _drawn_span(self) -> tuple[float, float]:
        """The times whose points the curves are given: the view, and while not following
        half a view more on each side, so that a pan shows points before the next redraw
        has caught up; paused, nothing after the pause."""
        left, right = self.plot.getViewBox().viewRange()[0]
        if not self.follow:
            margin = (right - left) / 2
            left, right = left - margin, right + margin
        if self._paused_at is not None:
            right = min(right, self._paused_at)
        return left, right

    def _follow(self, now: float) -> None:
        """Show the last `window` seconds up to `now`, and every shown value in them; the
        ranges change only in steps (FOLLOW_STEPS)."""
        step = self.window / FOLLOW_STEPS
        right = ((now / step - self._step_phase) // 1 + 1 + self._step_phase) * step
        left = right - step - self.window
        peak = self._peak_since(left)
        top = self._followed[2] if self._followed is not None else 0.0
        if peak is not None and (peak * 1.05 > top or peak < 0.5 * top):
            top = max(nice_ceiling(peak * 1.1), MIN_TOP)
        if self._followed != (left, right, top):
            self._followed = (left, right, top)
            self.plot.setRange(xRange=(left, right), yRange=(0, top or MIN_TOP), padding=0)

    def _peak_since(self, start: float) -> float | None:
        """The highest value of the shown series at or after `start`; None if none."""
        peaks = []
        for key in self._shown:
            buffer = self._buffers.get(key)
            if buffer is not None and len(buffer):
                first = int(np.searchsorted(buffer.x, start))
                if first < len(buffer):
                    peaks.append(float(buffer.y[first:].max()))
        return max(peaks, default=None)

    def _range_limit(self) -> float | None:
        # While following, the y axis is fitted to the data, so no point is off
        # screen; the limit would only redo every curve on each y change (about half of a
        # redraw tick with 50 curves: tests/benchmarks/RESULTS.md, Monitor).
        return None if self.follow else _RANGE_LIMIT

    def _apply_range_limit(self) -> None:
        for item in self._curves.values():
            item.setDynamicRangeLimit(self._range_limit())

    def _on_view_range_manually(self, *_args: object) -> None:
        if self.follow:
            self.follow = False
            self._apply_range_limit()
        self._dirty = True  # the curves hold only the points that were in view

    def _on_view_resized(self, *_args: object) -> None:
        # Curves decimated for a narrower plot look coarse once it is wider.
        if self._bins and self.plot.getViewBox().width() > 1.5 * self._bins:
            self._dirty = True

    def _on_x_range_changed(self, *_args: object) -> None:
        # While following, the redraw that moved the range gives the curves their points.
        if not self.follow:
            self._dirty = True

    def _on_scene_mouse_moved(self, pos: QPointF) -> None:
        if not self.plot.sceneBoundingRect().contains(pos):
            self._vline.hide()
            return
        at = self.plot.getViewBox().mapSceneToView(pos).x()
        self._vline.setPos(at)
        self._vline.show()
        self.crosshair_label.setText(self.values_at(at))

    def values_at(self, at: float) -> str:
        """The crosshair's text: each shown series' value at the nearest earlier sample
        (paused: none newer than the pause, as drawn)."""
        parts = [time.strftime("%H:%M:%S", time.localtime(at))]
        if self._paused_at is not None:
            at = min(at, self._paused_at)
        for i, key in enumerate(self._shown):
            buffer = self._buffers.get(key)
            if buffer is None or not len(buffer):
                continue
            index = int(np.searchsorted(buffer.x, at, side="right")) - 1
            if index < 0:
                continue
            colour, _dashed = self._pen_spec(key, i)
            value = buffer.y[index]
            parts.append(f"<span style='color:{colour}'>■</span> {self._label(key)}: {value:,.0f}")
        return " &nbsp; ".join(parts)
