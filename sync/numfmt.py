"""Excel's display text for a cell value, so every cell is seen as its user saw it.

Only what matters for faithful text is rendered: General numbers without float noise,
zero-padded formats such as ``00000``, fixed decimals, thousands grouping, percentages
and the date/time codes. Anything fancier falls back to the plain value, which is
still exact, just not decorated.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

_BRACKETS = re.compile(r"\[[^\]]*\]")
_QUOTED = re.compile(r'"[^"]*"|\\.')
_DATE_CODES = re.compile(r"(?i)yyyy|yy|mmmm|mmm|mm|m|dddd|ddd|dd|d|hh|h|ss|s|am/pm|a/p")
_NUMBER_BODY = re.compile(r"^(?P<int>[#0,]*0)(?:\.(?P<frac>0+))?(?P<pct>%?)$")


def general(value: float | int) -> str:
    """A number as Excel's General format keeps it, exactly: ``123``, ``0.1``."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    exact = Decimal(repr(value))
    text = format(exact, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def display(value: object, number_format: str | None) -> str:
    """The text Excel shows for a cell holding ``value`` under ``number_format``."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    fmt = _first_section(number_format or "General")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return _render_date(value, fmt)
    if isinstance(value, int | float):
        return _render_number(value, fmt)
    return str(value)


def is_percent_format(number_format: str | None) -> bool:
    """Whether a number format shows its value as a percentage."""
    if not number_format:
        return False
    return "%" in _QUOTED.sub("", _first_section(number_format))


@lru_cache(maxsize=256)
def _first_section(number_format: str) -> str:
    """The positive-number section of a format, without colours and locale tags."""
    section = number_format.split(";", 1)[0]
    return _BRACKETS.sub("", section).strip()


@lru_cache(maxsize=256)
def _number_body(fmt: str) -> re.Match[str] | None:
    if fmt.lower() == "general":
        return None
    return _NUMBER_BODY.match(_QUOTED.sub("", fmt).strip())


def _render_number(value: float | int, fmt: str) -> str:
    match = _number_body(fmt)
    if match is None:
        return general(value)

    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if match["pct"]:
        number *= 100
    decimals = len(match["frac"] or "")
    number = number.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)

    sign = "-" if number < 0 else ""
    whole, _, frac = format(abs(number), "f").partition(".")
    zeros = match["int"].replace("#", "").replace(",", "").count("0")
    whole = whole.zfill(zeros)
    if "," in match["int"]:
        whole = f"{int(whole):,}".rjust(len(whole), "0") if whole else whole
    text = f"{sign}{whole}" + (f".{frac}" if decimals else "")
    return text + ("%" if match["pct"] else "")


def _render_date(value: dt.datetime | dt.date | dt.time, fmt: str) -> str:
    if not _is_date_format(fmt):
        return (
            value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)
        )

    moment = value
    if isinstance(value, dt.time):
        moment = dt.datetime.combine(dt.date(1899, 12, 31), value)
    elif not isinstance(value, dt.datetime):
        moment = dt.datetime.combine(value, dt.time())
    assert isinstance(moment, dt.datetime)

    tokens = _tokenize(fmt)
    twelve_hour = any(t.lower() in ("am/pm", "a/p") for _, t in tokens if _ == "code")
    out: list[str] = []
    for index, (kind, token) in enumerate(tokens):
        if kind == "text":
            out.append(token)
            continue
        out.append(_date_part(token, moment, tokens, index, twelve_hour))
    return "".join(out)


@lru_cache(maxsize=256)
def _is_date_format(fmt: str) -> bool:
    return fmt.lower() != "general" and bool(_DATE_CODES.search(_QUOTED.sub("", fmt)))


@lru_cache(maxsize=256)
def _tokenize(fmt: str) -> tuple[tuple[str, str], ...]:
    tokens: list[tuple[str, str]] = []
    position = 0
    pattern = re.compile(r'"([^"]*)"|\\(.)|(' + _DATE_CODES.pattern[4:] + ")", re.I)
    for found in pattern.finditer(fmt):
        if found.start() > position:
            tokens.append(("text", fmt[position : found.start()]))
        if found.group(1) is not None:
            tokens.append(("text", found.group(1)))
        elif found.group(2) is not None:
            tokens.append(("text", found.group(2)))
        else:
            tokens.append(("code", found.group(3)))
        position = found.end()
    tokens.append(("text", fmt[position:]))
    return tuple((kind, token) for kind, token in tokens if token)


def _date_part(
    token: str,
    moment: dt.datetime,
    tokens: tuple[tuple[str, str], ...],
    index: int,
    twelve_hour: bool,
) -> str:
    lower = token.lower()
    if lower in ("m", "mm") and _is_minute(tokens, index):
        return f"{moment.minute:02d}" if lower == "mm" else str(moment.minute)
    hour = moment.hour % 12 or 12 if twelve_hour else moment.hour
    return _PARTS[lower](moment, hour)


# Each date code's text, from the moment and the hour as shown (12- or 24-hour).
_PARTS: dict[str, Callable[[dt.datetime, int], str]] = {
    "yyyy": lambda m, _: f"{m.year:04d}",
    "yy": lambda m, _: f"{m.year % 100:02d}",
    "mmmm": lambda m, _: m.strftime("%B"),
    "mmm": lambda m, _: m.strftime("%b"),
    "mm": lambda m, _: f"{m.month:02d}",
    "m": lambda m, _: str(m.month),
    "dddd": lambda m, _: m.strftime("%A"),
    "ddd": lambda m, _: m.strftime("%a"),
    "dd": lambda m, _: f"{m.day:02d}",
    "d": lambda m, _: str(m.day),
    "hh": lambda _, h: f"{h:02d}",
    "h": lambda _, h: str(h),
    "ss": lambda m, _: f"{m.second:02d}",
    "s": lambda m, _: str(m.second),
    "am/pm": lambda m, _: "AM" if m.hour < 12 else "PM",
    "a/p": lambda m, _: "A" if m.hour < 12 else "P",
}


@lru_cache(maxsize=1024)
def _is_minute(tokens: tuple[tuple[str, str], ...], index: int) -> bool:
    """``m`` means minutes right after an hour code or right before a seconds code."""
    codes = [(i, t.lower()) for i, (kind, t) in enumerate(tokens) if kind == "code"]
    position = next(n for n, (i, _) in enumerate(codes) if i == index)
    before = codes[position - 1][1] if position > 0 else ""
    after = codes[position + 1][1] if position + 1 < len(codes) else ""
    return before in ("h", "hh") or after in ("s", "ss")
