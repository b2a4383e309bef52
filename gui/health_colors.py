"""The colour of each consumer-group health state, shared by the Monitor and the tree."""

from __future__ import annotations

from eventdesk.connectors.health import HealthState

HEALTH_COLORS = {
    HealthState.OK: "#2e9d4f",
    HealthState.WARNING: "#e0a800",
    HealthState.STALLED: "#e8590c",
    HealthState.STOPPED: "#6c757d",
    HealthState.ERROR: "#d32f2f",
}
