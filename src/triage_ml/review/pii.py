"""PII masking for everything people read in a review: e-mail addresses, phone numbers and
card numbers found in posts are never shown or exported.

Corrections are imported back by id and never carry text, so masking loses nothing from the
history.
"""

from __future__ import annotations

import re

import pandas as pd

EMAIL_MASK, PHONE_MASK, CARD_MASK = "[email]", "[phone]", "[card]"

_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
    # obfuscated: jane.doe [at] mail [dot] com, jane (at) mail.com, jane at mail dot com
    r"|[A-Za-z0-9._%+\-]+\s*[\[({]\s*at\s*[\])}]\s*[A-Za-z0-9\-]+"
    r"(?:\s*(?:[\[({]\s*dot\s*[\])}]|\.)\s*[A-Za-z0-9\-]+)+"
    r"|\b[A-Za-z0-9._%+\-]+(?:\s+dot\s+[A-Za-z0-9._%+\-]+)*\s+at\s+[A-Za-z0-9\-]+"
    r"(?:\s+dot\s+[A-Za-z0-9\-]+)+",
    re.IGNORECASE,
)
# 13-19 digits, optionally grouped by single spaces or dashes (Luhn is not checked: a mistyped
# card number is still a card number)
_CARD = re.compile(r"(?<![\d#])(?:\d[ \-]?){12,18}\d(?!\d)")
_PHONE = re.compile(
    # +44 20 7946 0958, +1 (555) 123-4567, +33612345678
    r"(?<![\w#])\+\d{1,3}[\s.\-]?(?:\(\d{1,5}\)[\s.\-]?)?\d(?:[\s.\-]?\d){5,12}(?!\d)"
    # (555) 123-4567, 555-123-4567, 555.123.4567, 020 7946 0958, 07700 900123
    r"|(?<![\w#])(?:\(\d{2,5}\)\s?|\d{2,5}[\s.\-])\d{3,4}[\s.\-]?\d{3,4}(?!\d)"
    # 07700900123, 0612345678: national numbers written without separators
    r"|(?<![\w#])0\d{9,10}(?!\d)"
)


def mask_pii(text: pd.Series | str) -> pd.Series | str:
    """Replace e-mail addresses, card numbers and phone numbers with ``[email]``, ``[card]``,
    ``[phone]``: review tables and exports are read by people who must not see them.

    Cards are masked before phones so that a grouped card number is never half-masked.
    """
    if isinstance(text, str):
        return _PHONE.sub(PHONE_MASK, _CARD.sub(CARD_MASK, _EMAIL.sub(EMAIL_MASK, text)))
    out = pd.Series(text, dtype=object).astype(object)
    present = out.notna()
    masked = (
        out[present]
        .astype(str)
        .str.replace(_EMAIL, EMAIL_MASK, regex=True)
        .str.replace(_CARD, CARD_MASK, regex=True)
        .str.replace(_PHONE, PHONE_MASK, regex=True)
    )
    out[present] = masked
    return out
