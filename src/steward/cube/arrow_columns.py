"""Arrow columns of a record batch read as numpy arrays for the numpy cube pass: numbers
straight from their buffers, scores on the probability scale, time windows as day numbers,
group columns as level codes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from steward.cube.model import FloatArray, Level

#: Integer group columns spanning at most this many values are coded by subtraction: cheaper
#: than a hash table, and a list of levels this long costs little (levels without rows are
#: dropped by the margins).
SMALL_INTEGER_RANGE = 256

EPOCH = dt.date(1970, 1, 1)


def float_values(column: pa.Array) -> FloatArray:
    """Numbers as float64, with NaN for nulls (DuckDB's CAST AS DOUBLE)."""
    values, valid = buffer_values(column)
    if valid is None:
        return values.astype(np.float64, copy=False)
    doubles = values.astype(np.float64)
    doubles[~valid] = np.nan
    return doubles


def buffer_values(column: pa.Array) -> tuple[NDArray[np.generic], NDArray[np.bool_] | None]:
    """A numeric Arrow array's values (a read-only view of its buffer, nulls left as they are)
    and whether each is valid (None without nulls).

    Reading the buffers directly is two orders of magnitude faster than ``to_numpy``'s own null
    filling, and spares importing Arrow's compute module (and pandas, which its scalar
    conversion imports) at start-up.
    """
    validity, data = column.buffers()[:2]
    start, stop = column.offset, column.offset + len(column)
    dtype = np.dtype(column.type.to_pandas_dtype())
    if data is None or stop == 0:
        return np.zeros(0, dtype=dtype), None
    values = np.frombuffer(data, dtype=dtype, count=stop)[start:]
    if not column.null_count or validity is None:
        return values, None
    bits = np.unpackbits(np.frombuffer(validity, dtype=np.uint8), count=stop, bitorder="little")
    return values, bits[start:].view(np.bool_)


def probability(values: FloatArray, scale: str) -> FloatArray:
    if scale == "percent":
        return values / 100.0
    if scale == "logit":
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-values))
    return values


def window_days(column: pa.Array, window: str) -> pa.Array:
    """Days since 1970-01-01 of each row's window start (weeks start on Monday), null kept.

    Windows are cut in UTC, as the DuckDB pass does: a zoned timestamp is read as its UTC value.
    """
    if pa.types.is_timestamp(column.type) and column.type.tz is not None:
        column = column.cast(pa.timestamp(column.type.unit))
    if pa.types.is_date(column.type):
        column = column.cast(pa.timestamp("s"))
    import pyarrow.compute as pc  # only for time windows

    start = pc.floor_temporal(column, unit=window, week_starts_monday=True)
    return start.cast(pa.date32()).cast(pa.int32())


def level_text(value: object, is_time: bool) -> str | None:
    if value is None:
        return None
    if is_time:
        return (EPOCH + dt.timedelta(days=int(str(value)))).isoformat()
    return str(value)


def column_levels(column: pa.Array, is_time: bool) -> tuple[NDArray[np.intp], list[Level]]:
    """Per row, a code into the returned levels of a group column: a missing value is a level
    of its own, listed only when the column has one. Levels may include values without rows."""
    small = None if is_time else _small_integer_levels(column)
    if small is not None:
        return small
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    dictionary: list[object] = column.dictionary.to_pylist()
    values: list[Level] = [(level_text(v, is_time),) for v in dictionary]
    indices, valid = buffer_values(column.indices)
    codes = indices.astype(np.intp)
    if valid is not None:
        codes[~valid] = len(values)
        values.append((None,))
    return codes, values


def _small_integer_levels(column: pa.Array) -> tuple[NDArray[np.intp], list[Level]] | None:
    """Codes ``value - min`` of an integer column without nulls over a small range, else None."""
    kind = column.type
    fits = pa.types.is_signed_integer(kind) or (
        pa.types.is_unsigned_integer(kind) and kind.bit_width < 64
    )
    if not fits or column.null_count or len(column) == 0:
        return None
    values, _ = buffer_values(column)
    low, high = int(values.min()), int(values.max())
    if high - low >= SMALL_INTEGER_RANGE:
        return None
    codes = values.astype(np.intp)
    codes -= low
    return codes, [(str(v),) for v in range(low, high + 1)]
