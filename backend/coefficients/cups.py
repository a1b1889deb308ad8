"""Spanish supply-point codes (CUPS) and self-consumption codes (CAU): format and check letters.

A CUPS is ``ES``, a 4-digit distributor code and a 12-digit supply number (16 digits in all), two check
letters, and optionally two more characters (a digit and a letter, e.g. ``0F``, the border-point code). The
check letters come from the 16-digit number ``N``: ``R = N mod 529``; the first letter is
``TABLE[R // 23]`` and the second ``TABLE[R % 23]``, with ``TABLE = "TRWAGMYFPDXBNJZSQVHLCKE"`` (the letter
table of the Spanish DNI). A CAU is the 22-character CUPS of the installation's supply point followed by ``A``
and a 3-digit installation number (26 characters).
"""

import re

CHECK_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_CUPS = re.compile(r"ES(\d{16})([A-Z]{2})(\d[A-Z])?")
_CAU = re.compile(r"(ES\d{16}[A-Z]{2}\d[A-Z])A(\d{3})")


class CupsError(ValueError):
    """A malformed CUPS or CAU."""


def check_letters(digits: str) -> str:
    """The two check letters of a CUPS's 16 digits."""
    if not re.fullmatch(r"\d{16}", digits):
        raise CupsError(f"a CUPS number has 16 digits, got {digits!r}")
    remainder = int(digits) % 529
    return CHECK_LETTERS[remainder // 23] + CHECK_LETTERS[remainder % 23]


def validate_cups(text: str) -> str:
    """Return ``text`` if it is a well-formed CUPS with the right check letters; say what is wrong otherwise."""
    match = _CUPS.fullmatch(text)
    if match is None:
        raise CupsError(f"{text!r} is not a CUPS: ES, 16 digits, 2 check letters and optionally a digit and a letter")
    expected = check_letters(match.group(1))
    if match.group(2) != expected:
        raise CupsError(f"{text!r}: wrong check letters {match.group(2)}, the digits give {expected}")
    return text


def make_cups(distributor: int, supply: int, border: str = "0F") -> str:
    """A valid CUPS from a distributor code and a supply number (for simulated communities and tests)."""
    digits = f"{distributor:04d}{supply:012d}"
    return f"ES{digits}{check_letters(digits)}{border}"


def validate_cau(text: str) -> str:
    """Return ``text`` if it is a well-formed CAU (a full 22-character CUPS, ``A``, 3 digits)."""
    match = _CAU.fullmatch(text)
    if match is None:
        raise CupsError(f"{text!r} is not a CAU: a 22-character CUPS, then A and 3 digits")
    validate_cups(match.group(1))
    return text
