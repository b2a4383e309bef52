"""Realistic order documents: the payload every seeded broker carries, one shape for all."""

from __future__ import annotations

import random
from typing import Any

SKUS = ["SKU-10442", "SKU-20917", "SKU-31008", "SKU-47730", "SKU-55261", "SKU-68004"]
COUNTRIES = [("DE", "10115"), ("FR", "75011"), ("NL", "1012"), ("GB", "EC1A 1BB"), ("SE", "11122")]


def order(rng: random.Random, number: int) -> dict[str, Any]:
    """Order `number` of a shop: lines, total, shipping; deterministic for a seeded rng."""
    lines = [
        {
            "sku": rng.choice(SKUS),
            "quantity": rng.randint(1, 4),
            "unitPrice": f"{rng.randint(399, 12999) / 100:.2f}",
        }
        for _ in range(rng.randint(1, 3))
    ]
    total = sum(line["quantity"] * float(line["unitPrice"]) for line in lines)
    country, postcode = rng.choice(COUNTRIES)
    return {
        "orderId": f"ORD-2025-{100000 + number:06d}",
        "customerId": f"CUST-{rng.randint(1000, 9999)}",
        "placedAt": f"2025-06-{1 + number % 28:02d}T{8 + number % 12:02d}:{number % 60:02d}:17Z",
        "currency": "EUR",
        "lines": lines,
        "total": f"{total:.2f}",
        "shipping": {"country": country, "postcode": postcode, "method": "STANDARD"},
    }
