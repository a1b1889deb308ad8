"""The distributor's coefficients file: CUPS check letters, hours of the year, round trips and clear refusals."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backend.coefficients.cups import CupsError, check_letters, make_cups, validate_cau, validate_cups
from backend.coefficients.distributor_file import (
    CoefficientFileError,
    CoefficientSet,
    export,
    import_file,
    parse,
    render_lines,
)
from backend.coefficients.hours import hour_number, hour_starts_utc, hours_in_year
from backend.coefficients.rounding import MICRO

MEMBERS = tuple(sorted(make_cups(31, n) for n in (7, 1234, 99)))
CAU = MEMBERS[0] + "A001"


def yearly_set(year: int, seed: int = 0) -> CoefficientSet:
    rng = np.random.default_rng(seed)
    first = rng.integers(0, MICRO, hours_in_year(year))
    second = rng.integers(0, MICRO - first + 1)
    table = np.column_stack([first, second, MICRO - first - second]).astype(np.int64)
    return CoefficientSet(CAU, year, MEMBERS, table)


def test_check_letters_follow_the_published_example():
    # The example used by the CUPS validators of python-stdnum and GISCE's enerdata.
    assert check_letters("0291000000000001") == "DN"
    assert validate_cups("ES0291000000000001DN0F") == "ES0291000000000001DN0F"
    assert validate_cups("ES0291000000000001DN") == "ES0291000000000001DN"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ES0291000000000001DX0F", "wrong check letters DX, the digits give DN"),
        ("ES029100000000001DN0F", "not a CUPS"),
        ("FR0291000000000001DN0F", "not a CUPS"),
        ("es0291000000000001dn0f", "not a CUPS"),
        ("ES0291000000000001DN0", "not a CUPS"),
    ],
)
def test_a_malformed_cups_is_refused(text, message):
    with pytest.raises(CupsError, match=message):
        validate_cups(text)


def test_a_cau_is_a_full_cups_then_a_and_three_digits():
    assert validate_cau("ES0291000000000001DN0FA001")
    for bad in ("ES0291000000000001DN0F", "ES0291000000000001DNA001", "ES0291000000000001DX0FA001"):
        with pytest.raises(CupsError):
            validate_cau(bad)


def test_hours_of_the_year_count_elapsed_local_hours():
    assert hours_in_year(2023) == 8760 and hours_in_year(2024) == 8784
    starts = hour_starts_utc(2024)
    assert starts[0] == pd.Timestamp("2023-12-31 23:00", tz="UTC")  # local midnight, CET
    local = starts.tz_convert("Europe/Madrid")
    per_day = pd.Series(1, index=local.date).groupby(level=0).size()
    assert per_day[pd.Timestamp("2024-03-31").date()] == 23  # spring forward
    assert per_day[pd.Timestamp("2024-10-27").date()] == 25  # fall back: 02:00-03:00 twice
    assert hour_number(2024, pd.Timestamp("2024-10-27 00:00", tz="UTC")) != hour_number(
        2024, pd.Timestamp("2024-10-27 01:00", tz="UTC")
    )
    assert hour_number(2024, starts[-1]) == 8784
    with pytest.raises(ValueError, match="does not start an hour"):
        hour_number(2024, pd.Timestamp("2024-12-31 23:00", tz="UTC"))


@pytest.mark.parametrize("year", [2023, 2024])
def test_export_round_trips_through_the_importer(tmp_path, year):
    original = yearly_set(year)
    path = export(original, tmp_path)
    assert path.name == f"{CAU}_{year}.txt"
    lines = path.read_text().splitlines()
    assert len(lines) == 3 * hours_in_year(year)
    assert lines[0].startswith(f"{MEMBERS[0]};1;") and len(lines[0].split(";")[2]) == len("0.123456")
    back = import_file(path, known_cups=MEMBERS)
    assert back.members == original.members and back.cau == CAU and back.year == year
    assert np.array_equal(back.coefficients_micro, original.coefficients_micro)


def test_a_decimal_comma_and_a_header_are_read(tmp_path):
    original = yearly_set(2023, seed=3)
    text = "CUPS;HORA;COEFICIENTE\n" + "\n".join(render_lines(original, decimal=",")) + "\n"
    assert np.array_equal(parse(text, CAU, 2023).coefficients_micro, original.coefficients_micro)


def file_text(year=2023, edit=None) -> str:
    lines = list(render_lines(yearly_set(year)))
    if edit is not None:
        lines = edit(lines)
    return "\n".join(lines) + "\n"


def problems_of(text: str, year: int = 2023, known=MEMBERS) -> list[str]:
    with pytest.raises(CoefficientFileError) as caught:
        parse(text, CAU, year, known_cups=known)
    return caught.value.problems


def test_an_hour_not_summing_to_one_is_named():
    def bump(lines):
        cups, hour, value = lines[4].split(";")
        lines[4] = f"{cups};{hour};{float(value) + 0.000001:.6f}" if float(value) < 1 else lines[4]
        return lines

    assert problems_of(file_text(edit=bump)) == ["hour 5: the coefficients sum to 1.000001, not 1"]


def test_missing_hours_are_named_as_ranges():
    def drop(lines):
        return [line for line in lines if not (line.startswith(MEMBERS[1]) and 24 < int(line.split(";")[1]) <= 48)]

    problems = problems_of(file_text(edit=drop))
    assert problems[0] == f"{MEMBERS[1]}: 24 hour(s) missing: 25-48"


def test_a_leap_year_needs_its_8784_hours():
    # A 2023 file (8,760 hours) presented as 2024 lacks the last day for every member.
    problems = problems_of(file_text(2023), year=2024)
    assert problems == [f"{m}: 24 hour(s) missing: 8761-8784" for m in MEMBERS]
    # and a 2024 file presented as 2023 has hours that year does not have
    assert "is not within 1..8760" in problems_of(file_text(2024), year=2023)[0]


def test_bad_and_unknown_cups_and_malformed_lines_are_named():
    stranger = make_cups(21, 5)

    def spoil(lines):
        lines[0] = lines[0].replace(MEMBERS[0], MEMBERS[0][:18] + "XX0F")
        lines[1] = lines[1].replace(MEMBERS[0], stranger)
        lines[2] = lines[2].replace(";", ",")
        lines[3] = lines[3].rsplit(";", 1)[0] + ";0.5"
        lines[4] = lines[4] + ";extra"
        lines.append(lines[5])
        return lines

    problems = problems_of(file_text(edit=spoil))
    assert problems[0].startswith("line 1: ") and "wrong check letters XX" in problems[0]
    assert problems[1] == f"line 2: unknown CUPS {stranger} (not a member of the installation)"
    assert problems[2].startswith("line 3: expected CUPS;HOUR;COEFFICIENT")
    assert problems[3] == "line 4: coefficient '0.5' is not a number from 0 to 1 with 6 decimals"
    assert problems[4].startswith("line 5: expected CUPS;HOUR;COEFFICIENT")
    assert problems[5] == f"line {3 * 8760 + 1}: {MEMBERS[0]} hour 6 given twice"
    assert any(p.startswith(f"{MEMBERS[0]}: 5 hour(s) missing: 1-5") for p in problems)


def test_a_member_without_any_line_is_named():
    only_two = lambda lines: [line for line in lines if not line.startswith(MEMBERS[2])]  # noqa: E731
    assert f"member {MEMBERS[2]} has no coefficients" in problems_of(file_text(edit=only_two))


def test_the_file_name_must_carry_a_cau_and_a_year(tmp_path):
    path = export(yearly_set(2023), tmp_path)
    renamed = path.rename(tmp_path / "coefficients.txt")
    with pytest.raises(CoefficientFileError, match="must be <CAU>_<year>.txt"):
        import_file(renamed)
    bad_cau = Path(renamed.rename(tmp_path / f"{MEMBERS[0]}A01_2023.txt"))
    with pytest.raises(CoefficientFileError, match="not a CAU"):
        import_file(bad_cau)


def test_a_set_that_does_not_sum_to_one_cannot_be_exported():
    table = yearly_set(2023).coefficients_micro.copy()
    table[10, 0] += 1
    with pytest.raises(ValueError, match="hour 11"):
        CoefficientSet(CAU, 2023, MEMBERS, table)
