"""Numbers as the console prints them: quantities, money, bytes, percents, capped counts.

Quantities and money are Decimal throughout; floats (the ORM's cpu_ms sums)
go through their shortest repr, never binary.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from workflows_app.selectors.console import COUNT_CAP


def to_decimal(value: Decimal | int | float | str | None) -> Decimal:
    """Floats (the ORM's cpu_ms sums) go through their shortest repr, never binary."""
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def format_quantity(value: Decimal | int | float | None, places: int = 3) -> str:
    """Thousands separators, at most ``places`` decimals, no trailing zeros."""
    number = to_decimal(value).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    text = format(number, ",f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def format_money(value: Decimal | int | None) -> str:
    """USD with 2 to 8 decimals: cents always shown, sub-cent amounts kept."""
    number = to_decimal(value).quantize(Decimal("1e-8"), ROUND_HALF_UP)
    whole, _, fraction = format(number, ",f").partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"${whole}.{fraction}"


def format_percent(value: Decimal) -> str:
    return format_quantity(value, 0 if value >= 10 else 1)


_SI = [(Decimal(10**12), "T"), (Decimal(10**9), "G"), (Decimal(10**6), "M"), (Decimal(10**3), "k")]


def format_compact(value: Decimal | int, unit: str = "") -> str:
    """Short axis and gauge labels: 1.2 M ms, 340 k, 1.5 GB."""
    number = to_decimal(value)
    size, prefix = next(((s, p) for s, p in _SI if abs(number) >= s), (Decimal(1), ""))
    scaled = number / size
    text = format_quantity(scaled, 1 if scaled < 100 else 0)
    if unit == "B":
        return f"{text} {prefix}B"
    return f"{text}{prefix} {unit}".rstrip()


def format_bytes(value: Decimal | int) -> str:
    return format_compact(value, "B")


def format_count(count: int) -> str:
    """A count from ``selectors.capped_count``, as people read it: "10,000+" past the cap."""
    return f"{COUNT_CAP:,}+" if count > COUNT_CAP else f"{count:,}"
