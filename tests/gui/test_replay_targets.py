"""Which names the replay wizard offers as targets, from a connection's endpoints."""

from __future__ import annotations

from eventdesk.connectors.model import Endpoint, EndpointKind
from eventdesk.gui.replay_wizard import target_names


def test_plain_endpoints_first_dead_letter_queues_last_the_source_left_out():
    endpoints = [
        Endpoint("orders.DLT", EndpointKind.TOPIC, is_dead_letter=True),
        Endpoint("payments", EndpointKind.TOPIC),
        Endpoint("Audit", EndpointKind.TOPIC),
        Endpoint("billing.DLT", EndpointKind.TOPIC, is_dead_letter=True),
    ]
    assert target_names(endpoints, besides="orders.DLT") == ["Audit", "payments", "billing.DLT"]


def test_a_stream_is_offered_as_the_subjects_it_takes():
    endpoints = [
        Endpoint("ORDERS", EndpointKind.TOPIC, send_names=("orders.created", "orders.paid")),
        Endpoint("AUDIT", EndpointKind.TOPIC, send_names=("orders.created",)),
        Endpoint("ORDERS/billing", EndpointKind.QUEUE, is_dead_letter=True, send_names=()),
    ]
    # Each subject once, though two streams take it; the dead-letter view is not a target.
    assert target_names(endpoints) == ["orders.created", "orders.paid"]
