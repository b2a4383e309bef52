"""What an incident report hides: JSON field paths, regexes, and ready-made presets.

Rules are applied to every piece of text a report holds (payloads, headers, failure
labels, notes, action details, the timeline); the session's secrets (redaction.py) are
masked on top, whatever the rules say.

Field paths are dot-separated keys from the document's root ("customer.email"); `*`
matches any one key or list item ("lines.*.sku"), and a leading `**.` matches at any depth
("**.password"). A one-segment path also names a header to hide.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigurationError
from .model import Headers
from .redaction import MASK, redact


class Preset(enum.StrEnum):
    EMAIL = "email"
    CARD = "card"
    BEARER = "bearer"
    AWS_KEYS = "aws-keys"


_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# 13 to 19 digits, optionally grouped by spaces or dashes; kept only if the Luhn check passes.
_CARD_CANDIDATE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_BEARER = re.compile(r"\b[Bb]earer\s+[A-Za-z0-9\-._~+/]+=*")
_AWS_ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{16}\b")
# A secret access key is 40 base64 characters; requiring both cases and a digit keeps
# lowercase hex digests (SHA-1, commit ids) out of it.
_AWS_SECRET_KEY = re.compile(
    r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*\d)"
    r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)

PRESET_DESCRIPTIONS: dict[Preset, str] = {
    Preset.EMAIL: "e-mail addresses",
    Preset.CARD: "card numbers (13–19 digits passing the Luhn check)",
    Preset.BEARER: "bearer tokens (Authorization: Bearer …)",
    Preset.AWS_KEYS: "AWS access key ids and secret access keys",
}


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask_cards(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match[0])
        return MASK if luhn_valid(digits) else match[0]

    return _CARD_CANDIDATE.sub(replace, text)


def _preset_patterns(preset: Preset) -> list[re.Pattern[str]]:
    return {
        Preset.EMAIL: [_EMAIL],
        Preset.CARD: [],  # needs the Luhn check: see _mask_cards
        Preset.BEARER: [_BEARER],
        Preset.AWS_KEYS: [_AWS_ACCESS_KEY, _AWS_SECRET_KEY],
    }[preset]


def parse_preset(name: str) -> Preset:
    try:
        return Preset(name.strip().lower())
    except ValueError:
        known = ", ".join(p.value for p in Preset)
        raise ConfigurationError(
            f"Unknown redaction preset {name!r}.", hint=f"Use one of: {known}."
        ) from None


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigurationError(
            f"The redaction pattern {pattern!r} is not a valid regular expression: {exc}.",
            hint="Fix the pattern (Python regular expression syntax) or remove it.",
        ) from exc


def _split_path(path: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in path.strip().removeprefix("$.").split("."))
    if not path.strip() or any(not part for part in parts):
        raise ConfigurationError(
            f"The redaction field path {path!r} is malformed.",
            hint='Write keys separated by dots, e.g. "customer.email", "lines.*.sku", '
            '"**.password".',
        )
    return parts


@dataclass(frozen=True, slots=True)
class RedactionRules:
    """What to hide; an empty set of rules still masks the session's secrets."""

    field_paths: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    presets: tuple[Preset, ...] = ()

    def __post_init__(self) -> None:
        for path in self.field_paths:
            _split_path(path)
        for pattern in self.patterns:
            _compile(pattern)

    def to_json(self) -> dict[str, Any]:
        # The patterns themselves may quote what they hide; only their number is reported.
        return {
            "field_paths": list(self.field_paths),
            "patterns": len(self.patterns),
            "presets": [p.value for p in self.presets],
        }


@dataclass(slots=True)
class ReportRedactor:
    """Applies a `RedactionRules` to text, JSON documents, bodies and headers."""

    rules: RedactionRules
    _patterns: list[re.Pattern[str]] = field(init=False)
    _paths: list[tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self._patterns = [_compile(p) for p in self.rules.patterns]
        for preset in self.rules.presets:
            self._patterns.extend(_preset_patterns(preset))
        self._paths = [_split_path(p) for p in self.rules.field_paths]

    def text(self, text: str) -> str:
        """The text with every pattern, preset and session secret masked."""
        if not text:
            return text
        text = redact(text)
        for pattern in self._patterns:
            text = pattern.sub(MASK, text)
        if Preset.CARD in self.rules.presets:
            text = _mask_cards(text)
        return text

    def document(self, value: Any, path: tuple[str, ...] = ()) -> Any:
        """A JSON value with configured fields replaced by the mask and all text redacted."""
        if path and self._hidden(path):
            return MASK
        if isinstance(value, dict):
            return {self.text(str(k)): self.document(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [self.document(item, (*path, str(i))) for i, item in enumerate(value)]
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            # A card number or id may be stored as a JSON number.
            masked = self.text(str(value))
            return value if masked == str(value) else masked
        return self.text(str(value))

    def body(self, body: str) -> str:
        """A payload's text: as JSON with fields hidden if it parses, else as plain text."""
        try:
            parsed = json.loads(body)
        except ValueError:
            return self.text(body)
        if not isinstance(parsed, dict | list):
            return self.text(body)
        return json.dumps(self.document(parsed), indent=2, ensure_ascii=False)

    def headers(self, headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
        return [
            (self.text(name), MASK if self._hidden((name,)) else self.text(value))
            for name, value in headers
        ]

    def _hidden(self, path: tuple[str, ...]) -> bool:
        return any(_matches(rule, path) for rule in self._paths)


def _matches(rule: tuple[str, ...], path: tuple[str, ...]) -> bool:
    if rule and rule[0] == "**":
        tail = rule[1:]
        return any(_matches(tail, path[i:]) for i in range(len(path)))
    if len(rule) != len(path):
        return False
    return all(r in ("*", p) for r, p in zip(rule, path, strict=True))


def header_pairs(headers: Headers, render: Any) -> list[tuple[str, str]]:
    """(name, text) for each header, rendered by `render` (dead_letters.header_text)."""
    return [(str(name), render(value)) for name, value in headers]


def rules_from(
    *,
    field_paths: Iterable[str] = (),
    patterns: Iterable[str] = (),
    presets: Iterable[str | Preset] = (),
) -> RedactionRules:
    """Rules from user input: blank entries dropped, presets by name, errors explained."""
    return RedactionRules(
        field_paths=tuple(p.strip() for p in field_paths if p.strip()),
        patterns=tuple(p for p in patterns if p.strip()),
        presets=tuple(
            dict.fromkeys(p if isinstance(p, Preset) else parse_preset(p) for p in presets)
        ),
    )


__all__ = [
    "PRESET_DESCRIPTIONS",
    "Preset",
    "RedactionRules",
    "ReportRedactor",
    "header_pairs",
    "luhn_valid",
    "parse_preset",
    "rules_from",
]
