"""PII masking: one row per rule, what is masked and what analysts still need to read."""

from __future__ import annotations

import pandas as pd
import pytest

from triage_ml.review.pii import mask_pii


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail me at jane.doe@example.com please", "mail me at [email] please"),
        ("JOHN_SMITH+orders@mail.co.uk", "[email]"),
        ("jane [at] example [dot] com", "[email]"),
        ("jane(at)example.com", "[email]"),
        ("jane dot doe at gmail dot com", "[email]"),
        ("call +44 20 7946 0958 now", "call [phone] now"),
        ("+1 (555) 123-4567", "[phone]"),
        ("(555) 123-4567", "[phone]"),
        ("555-123-4567", "[phone]"),
        ("555.123.4567", "[phone]"),
        ("ring 020 7946 0958", "ring [phone]"),
        ("07700 900123", "[phone]"),
        ("07700900123", "[phone]"),
        ("+33612345678", "[phone]"),
        ("card 4111 1111 1111 1111 was charged", "card [card] was charged"),
        ("4111-1111-1111-1111", "[card]"),
        ("4111111111111111", "[card]"),
        ("amex 3782 822463 10005", "amex [card]"),
        ("two: a@b.io and 555-123-4567", "two: [email] and [phone]"),
        # left alone: what analysts need to read and is not personal
        ("order #LM482133 still not here", "order #LM482133 still not here"),
        ("@LumoraHelp my order", "@LumoraHelp my order"),
        ("paid £129.99 on 2026-01-05 at 10:15", "paid £129.99 on 2026-01-05 at 10:15"),
        ("rated 5/5, firmware v2.1.3", "rated 5/5, firmware v2.1.3"),
        ("card ending 4242 was declined", "card ending 4242 was declined"),
        ("https://lumora.example.com/help", "https://lumora.example.com/help"),
        ("meet at the store at noon", "meet at the store at noon"),
    ],
)
def test_mask_pii(text, expected):
    assert mask_pii(text) == expected
    masked = mask_pii(pd.Series([text, None], index=[7, 9]))
    assert masked[7] == expected and pd.isna(masked[9])
