"""The distributor's hourly coefficients file: write it, and read it back with every problem named.

Format (docs/coefficients.md says what is assumed): plain text, one line per supply point and hour of the
year, ``CUPS;HOUR;COEFFICIENT``; the hour counts from 1 as in :mod:`backend.coefficients.hours`; the
coefficient has 6 decimals (``0.250000``); the lines of one supply point are together, hours ascending,
supply points in CUPS order; no header; the file is named ``<CAU>_<year>.txt``. Reading accepts a decimal
comma as well as a point, a ``CUPS;HORA;COEFICIENTE`` header, and lines in any order.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.coefficients.cups import CupsError, validate_cau, validate_cups
from backend.coefficients.hours import hours_in_year
from backend.coefficients.rounding import MICRO

_COEFFICIENT = re.compile(r"([01])[.,](\d{6})")
_FILE_NAME = re.compile(r"(.+)_(\d{4})\.txt")
_HEADER = ("CUPS", "HORA", "COEFICIENTE")
MAX_REPORTED = 20  # problems listed in an error, the rest counted


class CoefficientFileError(ValueError):
    """A coefficients file that the distributor would refuse; ``problems`` lists each one found."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_REPORTED]
        more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{source}: {len(problems)} problem(s)\n  " + "\n  ".join(shown) + more)


@dataclass(frozen=True)
class CoefficientSet:
    """A year's coefficients for one self-consumption installation: ``coefficients_micro[hour - 1, member]``."""

    cau: str
    year: int
    members: tuple[str, ...]  # CUPS, sorted
    coefficients_micro: np.ndarray  # int64 [hours of the year, members]; each row sums to MICRO

    def __post_init__(self):
        validate_cau(self.cau)
        for member in self.members:
            validate_cups(member)
        if list(self.members) != sorted(set(self.members)):
            raise ValueError("members must be distinct and sorted")
        expected = (hours_in_year(self.year), len(self.members))
        if self.coefficients_micro.shape != expected:
            raise ValueError(f"coefficients for {self.year} must be {expected}, got {self.coefficients_micro.shape}")
        sums = self.coefficients_micro.sum(axis=1)
        if np.any(sums != MICRO) or np.any(self.coefficients_micro < 0):
            hour = int(np.flatnonzero((sums != MICRO) | np.any(self.coefficients_micro < 0, axis=1))[0]) + 1
            raise ValueError(f"hour {hour}: the coefficients must be at least 0 and sum to 1")

    @property
    def file_name(self) -> str:
        return file_name(self.cau, self.year)


def file_name(cau: str, year: int) -> str:
    """``<CAU>_<year>.txt``."""
    return f"{validate_cau(cau)}_{year}.txt"


def _format(micro: int, decimal: str) -> str:
    return f"{micro // MICRO}{decimal}{micro % MICRO:06d}"


def render_lines(coefficients: CoefficientSet, decimal: str = ".") -> Iterable[str]:
    """The file's lines, without line ends."""
    if decimal not in (".", ","):
        raise ValueError(f"the decimal separator is . or , not {decimal!r}")
    for column, member in enumerate(coefficients.members):
        for hour, micro in enumerate(coefficients.coefficients_micro[:, column].tolist(), start=1):
            yield f"{member};{hour};{_format(micro, decimal)}"


def export(coefficients: CoefficientSet, folder: Path, decimal: str = ".") -> Path:
    """Write the file into ``folder`` under the name the format requires; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / coefficients.file_name
    with path.open("w", encoding="ascii", newline="\n") as out:
        for line in render_lines(coefficients, decimal):
            out.write(line + "\n")
    return path


def parse(
    text: str, cau: str, year: int, known_cups: Iterable[str] | None = None, source: str = "coefficients file"
) -> CoefficientSet:
    """Read a file's text; raise :class:`CoefficientFileError` naming every problem (line by line, then per hour)."""
    n_hours = hours_in_year(year)
    known = set(known_cups) if known_cups is not None else None
    problems: list[str] = []
    values: dict[str, dict[int, int]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split(";")
        if number == 1 and tuple(f.strip().upper() for f in fields) == _HEADER:
            continue
        if len(fields) != 3:
            problems.append(f"line {number}: expected CUPS;HOUR;COEFFICIENT, got {line!r}")
            continue
        cups, hour_text, coefficient_text = (f.strip() for f in fields)
        try:
            validate_cups(cups)
        except CupsError as error:
            problems.append(f"line {number}: {error}")
            continue
        if known is not None and cups not in known:
            problems.append(f"line {number}: unknown CUPS {cups} (not a member of the installation)")
            continue
        if not hour_text.isdigit() or not 1 <= int(hour_text) <= n_hours:
            problems.append(
                f"line {number}: hour {hour_text!r} is not within 1..{n_hours} ({year} has {n_hours} hours)"
            )
            continue
        match = _COEFFICIENT.fullmatch(coefficient_text)
        micro = int(match.group(1)) * MICRO + int(match.group(2)) if match else None
        if micro is None or micro > MICRO:
            problems.append(
                f"line {number}: coefficient {coefficient_text!r} is not a number from 0 to 1 with 6 decimals"
            )
            continue
        hours = values.setdefault(cups, {})
        if int(hour_text) in hours:
            problems.append(f"line {number}: {cups} hour {hour_text} given twice")
            continue
        hours[int(hour_text)] = micro
    members = tuple(sorted(values))
    if not members and not problems:
        problems.append("no coefficients")
    if known is not None:
        problems += [f"member {cups} has no coefficients" for cups in sorted(known - set(values))]
    table = np.zeros((n_hours, len(members)), dtype=np.int64)
    present = np.zeros((n_hours, len(members)), dtype=bool)
    for column, cups in enumerate(members):
        hours = np.fromiter(values[cups].keys(), dtype=np.int64) - 1
        table[hours, column] = np.fromiter(values[cups].values(), dtype=np.int64)
        present[hours, column] = True
        missing = np.flatnonzero(~present[:, column]) + 1
        if len(missing):
            problems.append(f"{cups}: {len(missing)} hour(s) missing: {_ranges(missing)}")
    sums = table.sum(axis=1)
    wrong = np.flatnonzero(present.all(axis=1) & (sums != MICRO)) if members else np.array([], dtype=int)
    problems += [f"hour {h + 1}: the coefficients sum to {_format(int(sums[h]), '.')}, not 1" for h in wrong]
    if problems:
        raise CoefficientFileError(source, problems)
    return CoefficientSet(cau, year, members, table)


def import_file(path: Path, known_cups: Iterable[str] | None = None) -> CoefficientSet:
    """Read and check a file; its name gives the CAU and the year."""
    match = _FILE_NAME.fullmatch(path.name)
    if match is None:
        raise CoefficientFileError(path.name, [f"the file name must be <CAU>_<year>.txt, got {path.name!r}"])
    try:
        validate_cau(match.group(1))
    except CupsError as error:
        raise CoefficientFileError(path.name, [f"file name: {error}"]) from error
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as error:
        raise CoefficientFileError(path.name, [f"not plain ASCII text (byte {error.start})"]) from error
    return parse(text, match.group(1), int(match.group(2)), known_cups, source=path.name)


def _ranges(hours: np.ndarray) -> str:
    """``1-24, 100`` for the hours 1..24 and 100 (the first few runs)."""
    runs = []
    start = previous = int(hours[0])
    for hour in [*hours[1:].tolist(), None]:
        if hour is not None and hour == previous + 1:
            previous = hour
            continue
        runs.append(f"{start}-{previous}" if previous > start else f"{start}")
        if hour is not None:
            start = previous = hour
    return ", ".join(runs[:5]) + (f" and {len(runs) - 5} more runs" if len(runs) > 5 else "")
