"""Reading the numbers backends report: "N/A", empty, zero and junk are unknown (None)."""

from __future__ import annotations

import math
from fractions import Fraction


def positive_int(value: object) -> int | None:
    """Return `value` as a positive int; "N/A", empty, zero, negative and junk become None."""
    number = positive_float(value)
    return None if number is None or number < 1 else int(number)


def positive_float(value: object) -> float | None:
    """Return `value` as a positive finite float; "N/A", empty, non-positive and junk are None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number <= 0:
        return None
    return number


def as_rate(value: object) -> float | None:
    """Return a rate given as "30000/1001", a Fraction or a number; unusable ones are None."""
    if value is None:
        return None
    if isinstance(value, str) and "/" in value:
        num, _, den = value.partition("/")
        try:
            value = Fraction(int(num), int(den)) if int(den) else None
        except ValueError:
            return None
    if isinstance(value, Fraction):
        value = float(value)
    return positive_float(value)
