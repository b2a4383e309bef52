"""Report redaction: field paths, regexes and presets, on text, documents, bodies and headers."""

from __future__ import annotations

import json

import pytest
from eventdesk.connectors.errors import ConfigurationError
from eventdesk.connectors.redaction import MASK, register_secret
from eventdesk.connectors.report_redaction import (
    Preset,
    ReportRedactor,
    luhn_valid,
    rules_from,
)


def _redactor(**kwargs) -> ReportRedactor:
    return ReportRedactor(rules_from(**kwargs))


def test_presets_mask_what_they_name_and_leave_the_rest() -> None:
    redactor = _redactor(presets=["email", "card", "bearer", "aws-keys"])
    text = (
        "mail jane.doe+ops@example.co.uk card 4111 1111 1111 1111 not-a-card 4111111111111112 "
        "Authorization: Bearer eyJhbGciOi.J9.abc-_~ key AKIAIOSFODNN7EXAMPLE "
        "secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY "
        "sha 3f786850e387550fdab836ed7e6dc881de23001b"
    )
    out = redactor.text(text)
    for hidden in (
        "jane.doe",
        "4111 1111 1111 1111",
        "eyJhbGciOi",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI",
    ):
        assert hidden not in out
    # Failing the Luhn check, and a lowercase hex digest, are not secrets.
    assert "4111111111111112" in out
    assert "3f786850e387550fdab836ed7e6dc881de23001b" in out
    assert out.count(MASK) == 5


def test_luhn() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("5500005555555559")
    assert not luhn_valid("4111111111111112")


def test_field_paths_exact_wildcard_and_any_depth() -> None:
    redactor = _redactor(field_paths=["customer.email", "lines.*.sku", "**.password"])
    body = json.dumps(
        {
            "customer": {"email": "a@b.c", "name": "Ann"},
            "lines": [{"sku": "S-1", "qty": 1}, {"sku": "S-2", "qty": 2}],
            "auth": {"deep": {"password": "hunter2"}},
            "email": "kept at the root: the path names customer.email only",
        }
    )
    out = json.loads(redactor.body(body))
    assert out["customer"] == {"email": MASK, "name": "Ann"}
    assert [line["sku"] for line in out["lines"]] == [MASK, MASK]
    assert [line["qty"] for line in out["lines"]] == [1, 2]
    assert out["auth"]["deep"]["password"] == MASK
    assert out["email"].startswith("kept")


def test_headers_by_name_and_by_pattern() -> None:
    redactor = _redactor(field_paths=["x-api-key"], patterns=[r"ORD-\d+"])
    assert redactor.headers([("x-api-key", "k-123"), ("x-order", "ORD-17 failed")]) == [
        ("x-api-key", MASK),
        ("x-order", f"{MASK} failed"),
    ]


def test_plain_text_bodies_get_the_patterns() -> None:
    redactor = _redactor(field_paths=["email"], presets=[Preset.EMAIL])
    assert redactor.body("not json: bob@example.org") == f"not json: {MASK}"


def test_session_secrets_are_masked_without_any_rule() -> None:
    register_secret("s3cr3t-report-pw")
    assert "s3cr3t-report-pw" not in _redactor().text("password=s3cr3t-report-pw")


@pytest.mark.parametrize(
    "kwargs",
    [{"patterns": ["(unclosed"]}, {"field_paths": ["a..b"]}, {"presets": ["phone"]}],
)
def test_bad_rules_are_refused_with_a_hint(kwargs) -> None:
    with pytest.raises(ConfigurationError) as caught:
        rules_from(**kwargs)
    assert caught.value.hint
