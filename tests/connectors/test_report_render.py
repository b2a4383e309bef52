"""Report pieces that need no broker: charts, times, request checks, escaping, writing."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.failure_groups import failure_signature
from eventdesk.connectors.model import BrokerKind, DeadLetterFacts, Message
from eventdesk.connectors.profiles import ConnectionProfile
from eventdesk.connectors.report import (
    EndpointRef,
    ReportInputs,
    ReportRequest,
    build_report,
    parse_time,
)
from eventdesk.connectors.report_charts import ChartSeries, line_chart_svg, nice_ceiling
from eventdesk.connectors.report_render import (
    ReportFormat,
    format_for,
    render_html,
    render_markdown,
    write_report,
)

HOSTILE = '<marquee onmouseover="x()">|*bold*|</marquee>'


def _inputs(**changes) -> ReportInputs:
    now = 1_800_000_000.0
    request = ReportRequest(start=now - 600, end=now)
    letter = Message(
        f"dlq-{HOSTILE}",
        "id-1",
        b"plain body",
        headers=((HOSTILE, HOSTILE),),
        timestamp=datetime.fromtimestamp(now - 60, UTC),
        dead_letter=DeadLetterFacts(convention="t", reason=HOSTILE, original_destination="src"),
    )
    fields = {
        "request": request,
        "profiles": [ConnectionProfile("c", BrokerKind.SQS, {"region": "eu-west-1"})],
        "series": {
            ("c", f"dlq-{HOSTILE}", "", "dlq_depth"): [(now - 500, 2), (now - 400, 7), (now, 3)]
        },
        "baselines": {("c", f"dlq-{HOSTILE}", "", "dlq_depth"): 4},
        "dead_letter_endpoints": [EndpointRef("c", f"dlq-{HOSTILE}")],
        "messages": [letter],
        "actions": [],
        "events": [],
        "broker_versions": {"c": None},
        "notices": [],
        "generated_at": now,
    }
    fields.update(changes)
    return ReportInputs(**fields)


def test_nice_ceiling() -> None:
    assert [nice_ceiling(v) for v in (0, 0.7, 3, 9, 11, 240, 2600)] == [1, 1, 5, 10, 20, 250, 5000]


def test_chart_draws_lines_escapes_labels_and_says_when_empty() -> None:
    svg = line_chart_svg(
        "Depth <&>", [ChartSeries(HOSTILE, [(10, 1), (20, 5)])], start=0, end=30, unit="msgs"
    )
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "<polyline" in svg and "Depth &lt;&amp;&gt;" in svg and "<marquee" not in svg
    empty = line_chart_svg("Depth", [ChartSeries("q", [])], start=0, end=30)
    assert "No samples in this window" in empty and "<polyline" not in empty


def test_inflow_counts_rises_from_the_depth_before_the_window() -> None:
    report = build_report(_inputs())
    # 4 before the window: 2 is a fall, 7 a rise of 5, 3 a fall.
    assert report["summary"]["dead_lettered"] == 5
    assert report["summary"]["peak_dlq_depth"]["value"] == 7
    assert report["summary"]["peak_lag_messages"] is None


def test_sections_left_out_are_empty() -> None:
    inputs = _inputs(request=ReportRequest(start=1_799_999_400, end=1_800_000_000, sections=()))
    report = build_report(inputs)
    assert report["sections"] == []
    assert report["summary"] == {} and report["failure_groups"] == [] and report["charts"] == []


def test_hostile_names_are_text_in_html_and_markdown() -> None:
    report = build_report(_inputs())
    html = render_html(report)

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: set[str] = set()

        def handle_starttag(self, tag, attrs) -> None:
            self.found.add(tag)
            self.found.update(name for name, _ in attrs)

    parser = Tags()
    parser.feed(html)
    assert "marquee" not in parser.found and "onmouseover" not in parser.found
    assert "&lt;marquee onmouseover=" in html
    markdown = render_markdown(report)
    assert "<marquee" not in markdown and "&lt;marquee onmouseover" in markdown
    assert "\\|\\*bold\\*\\|" in markdown  # cannot break a table cell or start emphasis


def test_times() -> None:
    now = 1_800_000_000.0
    assert parse_time("now", now=now) == now
    assert parse_time("-90m", now=now) == now - 5400
    assert parse_time("2027-01-15T08:00:00Z") == datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()
    assert parse_time("2027-01-15T08:00:00") == datetime(2027, 1, 15, 8, tzinfo=UTC).timestamp()
    with pytest.raises(ConfigurationError) as caught:
        parse_time("yesterday-ish")
    assert "-1h" in caught.value.hint


def test_requests_and_endpoints_are_checked() -> None:
    assert EndpointRef.parse("prod/orders/dlq") == EndpointRef("prod", "orders/dlq")
    for bad in ("orders.DLT", "/x", "prod/"):
        with pytest.raises(ConfigurationError):
            EndpointRef.parse(bad)
    with pytest.raises(ConfigurationError, match="ends before it starts"):
        ReportRequest(start=time.time(), end=time.time() - 10)
    with pytest.raises(ConfigurationError, match="section"):
        ReportRequest(start=0, end=1, sections=("summary", "gossip"))


def test_format_from_the_name_or_the_flag(tmp_path: Path) -> None:
    assert format_for(tmp_path / "a.PDF") is ReportFormat.PDF
    assert format_for(tmp_path / "a.txt", "markdown") is ReportFormat.MARKDOWN
    with pytest.raises(ConfigurationError) as caught:
        format_for(tmp_path / "report")
    assert "--format" in caught.value.hint
    with pytest.raises(ConfigurationError):
        format_for(tmp_path / "a.html", "docx")


def test_writing_into_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    report = build_report(_inputs())
    with pytest.raises(ConfigurationError) as caught:
        write_report(report, ReportFormat.HTML, tmp_path / "nope" / "r.html")
    assert caught.value.hint
    written = write_report(report, ReportFormat.JSON, tmp_path / "r.json")
    assert written.read_text(encoding="utf-8").startswith("{")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--out", "r.txt"], "Cannot tell the report format"),
        (["--out", "r.html", "--from", "last tuesday"], "is not a time"),
        (["--out", "r.html", "--endpoint", "nowhere/orders.dlq"], "No connection named"),
        (["--out", "r.html", "--redact-preset", "phone"], "Unknown redaction preset"),
        (["--out", "r.html", "--from", "-1m", "--to", "-2m"], "ends before it starts"),
    ],
)
def test_cli_report_explains_bad_input(
    args: list[str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from eventdesk.gui import launcher

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.chdir(out)
    assert launcher.main(["report", *args]) == 2
    err = capsys.readouterr().err
    assert expected in err and "hint:" in err
    assert not list(out.iterdir())


def test_thinning_keeps_every_peak_and_bounds_the_points() -> None:
    from eventdesk.connectors.report import thin

    points = [(float(i), float(i % 97)) for i in range(20_000)]
    points[12_345] = (12_345.0, 5_000.0)
    thinned = thin(points, 1000)
    assert len(thinned) <= 1000
    assert (12_345.0, 5_000.0) in thinned
    assert [at for at, _ in thinned] == sorted(at for at, _ in thinned)
    assert thin(points[:10], 1000) == points[:10]


def test_a_failure_group_report_keeps_only_that_groups_dead_letters() -> None:
    now = 1_800_000_000.0
    at = datetime.fromtimestamp(now - 60, UTC)
    letters = [
        Message("dlq", f"t{i}", b"{}", timestamp=at, dead_letter=DeadLetterFacts("t", reason=why))
        for i, why in enumerate(["expired", "rejected", "expired"])
    ]
    expired = failure_signature(letters[0])
    request = ReportRequest(start=now - 600, end=now, failure_groups=(expired,))
    report = build_report(_inputs(request=request, messages=letters))
    assert [(g["label"], g["count"]) for g in report["failure_groups"]] == [("expired", 2)]
    assert report["scope"]["failure_groups"] == [expired]
    everything = build_report(_inputs(messages=letters))
    assert sorted(g["count"] for g in everything["failure_groups"]) == [1, 2]
