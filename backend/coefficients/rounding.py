"""Round hourly shares to the coefficients file's precision, each hour summing to exactly 1.

Coefficients are integer millionths (``MICRO`` = 1,000,000 is a share of 1: the file's 6 decimals). The rule is
the largest remainder of :mod:`backend.coefficients.allocation`: floor every share, then give one millionth each
to the members with the largest fractional parts until the hour sums to ``MICRO``; ties go to the member that
comes first (members are kept sorted by CUPS). Bounds given in millionths hold after rounding: a share is
clipped into its bounds before the floor, and a member already at its upper bound gets no extra millionth.
"""

import numpy as np

MICRO = 1_000_000  # one whole share, in the file's units (6 decimals)


def round_shares(
    shares: np.ndarray, lower_micro: np.ndarray | None = None, upper_micro: np.ndarray | None = None
) -> np.ndarray:
    """Round ``shares[hour, member]`` (each row summing to 1, within solver tolerance) to integer millionths."""
    shares = np.asarray(shares, dtype=float)
    if shares.ndim != 2:
        raise ValueError(f"shares must be [hours, members], got shape {shares.shape}")
    n_members = shares.shape[1]
    lower = np.zeros(n_members, dtype=np.int64) if lower_micro is None else np.asarray(lower_micro, dtype=np.int64)
    upper = np.full(n_members, MICRO, dtype=np.int64) if upper_micro is None else np.asarray(upper_micro, np.int64)
    row_sums = shares.sum(axis=1)
    if np.any(np.abs(row_sums - 1.0) > 1e-6):
        worst = int(np.argmax(np.abs(row_sums - 1.0)))
        raise ValueError(f"the shares of hour {worst} sum to {row_sums[worst]!r}, not 1")
    scaled = np.clip(shares * MICRO, lower, upper)
    floors = np.floor(scaled + 1e-9).astype(np.int64)  # a share a hair under an integer counts as that integer
    floors = np.minimum(floors, upper)
    fraction = scaled - floors
    fraction[floors >= upper] = -1.0  # never raise a member past its upper bound
    missing = MICRO - floors.sum(axis=1)
    if np.any(missing < 0) or np.any(missing > n_members):
        worst = int(np.argmax(np.abs(missing)))
        raise ValueError(f"hour {worst} cannot be rounded to 1 within the bounds (off by {missing[worst]} millionths)")
    # Rank each hour's members by fractional part, largest first; a stable sort keeps member order on ties.
    rank_order = np.argsort(-fraction, axis=1, kind="stable")
    ranks = np.empty_like(rank_order)
    np.put_along_axis(ranks, rank_order, np.arange(n_members)[None, :].repeat(len(floors), axis=0), axis=1)
    rounded = floors + (ranks < missing[:, None])
    if np.any(rounded > upper) or np.any(rounded < lower):
        raise ValueError("the shares cannot be rounded within the members' bounds")
    return rounded
