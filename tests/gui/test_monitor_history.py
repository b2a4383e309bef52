"""What the Monitor reads back from the metrics store when it opens."""

from __future__ import annotations

from eventdesk.connectors.metrics_store import MetricsStore
from eventdesk.connectors.model import BrokerKind
from eventdesk.connectors.sampling import Metric, Sample, SeriesKey
from eventdesk.gui.monitor_view import group_key, read_chart_history


def _sample(connection: str, endpoint: str, group: str | None, partition, metric, value, at):
    return Sample(connection, BrokerKind.KAFKA, endpoint, group, partition, metric, value, at)


def test_history_sums_group_lag_over_topics_and_keeps_dlqs_of_known_connections(tmp_path):
    with MetricsStore(tmp_path / "m.sqlite3") as store:
        store.add(
            [
                _sample("Kafka", "orders", "billing", None, Metric.LAG, 10, 100.0),
                _sample("Kafka", "refunds", "billing", None, Metric.LAG, 5, 100.0),
                _sample("Kafka", "orders", "billing", 0, Metric.LAG, 10, 100.0),  # partition
                _sample("Kafka", "orders", "billing", None, Metric.LAG, 4, 110.0),
                _sample("Kafka", "refunds", "billing", None, Metric.LAG, 1, 110.0),
                _sample("Kafka", "orders.DLT", None, None, Metric.DLQ_DEPTH, 7, 105.0),
                _sample("Kafka", "orders.DLT", None, None, Metric.DLQ_INFLOW, 2.5, 105.0),
                _sample("Gone", "x.DLT", None, None, Metric.DLQ_DEPTH, 9, 105.0),
                _sample("Kafka", "orders.DLT", None, None, Metric.DLQ_DEPTH, 8, 50.0),  # too old
            ]
        )
        found = read_chart_history(store, {"Kafka"}, 60.0, 200.0)

    assert found == {
        group_key("Kafka", "billing"): [(100.0, 15.0), (110.0, 5.0)],
        SeriesKey("Kafka", "orders.DLT", "", None, Metric.DLQ_DEPTH): [(105.0, 7.0)],
        SeriesKey("Kafka", "orders.DLT", "", None, Metric.DLQ_INFLOW): [(105.0, 2.5)],
    }
