"""Seeded generator of a deterioration-score validation data set, streamed in chunks to CSV/Parquet.

The data set imitates two years of a deployed "deterioration within 24 hours" score in four
hospitals: one row per prediction (an admission encounter), with patient-level clustering, a
clinician comparator, delayed labels and a known, mild miscalibration in one ethnic group.

Generative model
----------------
Each patient ``i`` has fixed attributes (site, sex, age band, ethnicity, deprivation quintile)
and two latent risks ``u_i`` (seen by the model through the record) and ``h_i`` (not recorded).
Each encounter ``j`` adds acute physiology ``e_ij`` (seen) and unrecorded noise ``d_ij``:

.. math::

    m_{ij} = \\beta_0 + x_i^\\top\\beta + \\sigma_u u_i + e_{ij}, \\qquad
    \\eta_{ij} = m_{ij} + \\sigma_h h_i + d_{ij} + s(t_{ij}) + \\delta\\,[\\text{group}_i = g^*]

and ``deteriorated ~ Bernoulli(logistic(eta))``. The model's score is the calibrated risk
given what it sees, ``E[logistic(m + r)]`` over ``r ~ N(0, sigma_h^2 + sigma_d^2)``
(Gauss-Hermite quadrature, tabulated), so it is well calibrated overall; it does not know the
winter season term ``s(t)`` nor the shift ``delta`` in the group ``ethnicity = "Black"``, in whom
it under-predicts (observed/expected about 1.3), the pattern reported for pulse oximetry
(Sjoding et al., N Engl J Med 2020;383:2477-8). The clinician's estimate sees part of the
unrecorded risk but less of the recorded one, is over-cautious, and is given in whole percent.

Rows are produced in fixed blocks of ``BLOCK_ROWS`` rows, each from its own random stream
``SeedSequence([seed, block])``; a block holds whole patients (the last one may be cut short), so
any chunking of the output yields exactly the same rows as a one-shot :func:`generate`.

Examples
--------
>>> from steward.synthetic import generate
>>> table = generate(1_000, seed=7)
>>> table.num_rows, table.column_names[:3]
(1000, ['patient_id', 'encounter_id', 'site'])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal, TypedDict

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from steward.errors import InputError
from steward.files import atomic_path

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BLOCK_ROWS: Final = 16_384
"""Rows per independently seeded block: the unit of determinism."""

START: Final = datetime(2024, 1, 1, tzinfo=UTC)
END: Final = datetime(2026, 1, 1, tzinfo=UTC)
UNLABELLED_FRACTION: Final = 0.02
"""Share of the period, at its end, whose outcomes are not yet coded (label missing)."""

SITES: Final = ("Northgate", "Riverside", "St Luke's", "Westmoor")
SEXES: Final = ("female", "male")
AGE_BANDS: Final = ("18-39", "40-59", "60-74", "75-84", "85+")
ETHNICITIES: Final = ("White", "Asian", "Black", "Mixed", "Other")
MISCALIBRATED_GROUP: Final = ("ethnicity", "Black")
"""The subgroup in which the score under-predicts risk, by design."""


class DemoColumns(TypedDict):
    """Which column plays which role in an evaluation of the synthetic data set."""

    score: str
    label: str
    groups: tuple[str, ...]
    comparator: str
    patient: str
    time: str


DEMO_COLUMNS: Final[DemoColumns] = {
    "score": "risk_score",
    "label": "deteriorated",
    "groups": ("sex", "age_band", "ethnicity", "deprivation", "site"),
    "comparator": "clinician_estimate",
    "patient": "patient_id",
    "time": "admitted_at",
}

SCHEMA: Final = pa.schema(
    [
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("encounter_id", pa.string(), nullable=False),
        pa.field("site", pa.string(), nullable=False),
        pa.field("sex", pa.string(), nullable=False),
        pa.field("age_band", pa.string(), nullable=False),
        pa.field("ethnicity", pa.string(), nullable=False),
        pa.field("deprivation", pa.int8(), nullable=False),
        pa.field("admitted_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("risk_score", pa.float64()),
        pa.field("clinician_estimate", pa.float64()),
        pa.field("deteriorated", pa.int8()),
    ]
)

# Population mix (probabilities) and effects on the log-odds of deterioration.
_SITE_P: Final = np.array([0.35, 0.28, 0.22, 0.15])
_SITE_EFFECT: Final = np.array([0.0, 0.10, -0.10, 0.15])
_SEX_P: Final = np.array([0.52, 0.48])
_SEX_EFFECT: Final = np.array([0.0, 0.15])
_AGE_P: Final = np.array([0.18, 0.24, 0.26, 0.20, 0.12])
_AGE_EFFECT: Final = np.array([-1.0, -0.5, 0.0, 0.4, 0.8])
_ETHNICITY_P: Final = np.array([0.80, 0.09, 0.05, 0.015, 0.045])
_DEPRIVATION_P: Final = np.array([0.24, 0.22, 0.20, 0.18, 0.16])  # quintile 1 = most deprived
_DEPRIVATION_EFFECT: Final = np.array([0.30, 0.20, 0.10, 0.05, 0.0])

_INTERCEPT: Final = -3.72
_SD_PATIENT_SEEN: Final = 0.85
_SD_ENCOUNTER_SEEN: Final = 0.65
_SD_PATIENT_HIDDEN: Final = 0.55
_SD_ENCOUNTER_HIDDEN: Final = 0.45
_MISCALIBRATION_SHIFT: Final = 0.33
_SEASON_AMPLITUDE: Final = 0.12

_CLINICIAN_INTERCEPT: Final = -2.65
_CLINICIAN_SEEN_WEIGHT: Final = 0.45
_CLINICIAN_HIDDEN_WEIGHT: Final = 0.35
_CLINICIAN_SD: Final = 0.75
_CLINICIAN_MISSING: Final = 0.12
_SCORE_MISSING: Final = 0.001

_MAX_ENCOUNTERS: Final = 6
_ID_ALPHABET: Final = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype=np.uint8)
_ID_DIGITS: Final = 13  # 13 base-32 digits hold any 64-bit value
_START_S: Final = int(START.timestamp())
_SPAN_S: Final = int(END.timestamp()) - _START_S
_LABEL_CUTOFF_S: Final = _START_S + round(_SPAN_S * (1 - UNLABELLED_FRACTION))
LABELLED_UNTIL: Final = datetime.fromtimestamp(_LABEL_CUTOFF_S, UTC)
"""Admissions from this moment on have no label yet (``deteriorated`` is missing)."""


def generate(n_rows: int, seed: int = 0) -> pa.Table:
    """Generate the whole synthetic data set in memory (for small sizes).

    Parameters
    ----------
    n_rows : int
        Number of rows (prediction encounters), >= 0.
    seed : int, default 0
        Non-negative seed; the same ``(n_rows, seed)`` always gives the same table, and the
        first ``k`` rows of a larger table equal ``generate(k, seed)``.

    Returns
    -------
    pyarrow.Table
        Columns as in ``SCHEMA``.

    Examples
    --------
    >>> generate(5, seed=1).num_rows
    5
    """
    tables = list(iter_chunks(n_rows, seed, chunk_rows=max(n_rows, 1)))
    if not tables:
        return SCHEMA.empty_table()
    return pa.concat_tables(tables).combine_chunks()


def iter_chunks(n_rows: int, seed: int = 0, chunk_rows: int = 1_000_000) -> Iterator[pa.Table]:
    """Yield the data set as consecutive tables of ``chunk_rows`` rows (the last may be shorter).

    Memory held at any time is about one chunk plus one block, whatever ``n_rows`` is.
    """
    _check_count("n_rows", n_rows, minimum=0)
    _check_count("seed", seed, minimum=0)
    _check_count("chunk_rows", chunk_rows, minimum=1)
    pending: list[pa.Table] = []
    pending_rows = 0
    for block in _iter_blocks(n_rows, seed):
        pending.append(block)
        pending_rows += block.num_rows
        while pending_rows >= chunk_rows:
            joined = pa.concat_tables(pending)
            yield joined.slice(0, chunk_rows)
            rest = joined.slice(chunk_rows)
            pending, pending_rows = [rest], rest.num_rows
    if pending_rows:
        yield pa.concat_tables(pending)


def write(
    path: str | os.PathLike[str],
    n_rows: int,
    seed: int = 0,
    format: Literal["csv", "parquet"] | None = None,
    chunk_rows: int = 1_000_000,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write the data set to CSV or Parquet chunk by chunk, with bounded memory.

    The file appears only when complete: rows go to a temporary file in the same directory that
    is renamed over ``path`` at the end, and removed if anything fails.

    Parameters
    ----------
    path : path-like
        Destination file. Its suffix (``.csv`` or ``.parquet``/``.pq``) names the format unless
        ``format`` is given.
    n_rows, seed
        As for :func:`generate`; the file holds exactly ``generate(n_rows, seed)``.
    format : {"csv", "parquet"}, optional
        Output format; default from the suffix.
    chunk_rows : int, default 1,000,000
        Rows per chunk (and per Parquet row group).
    progress : callable, optional
        Called after each chunk with the number of rows written so far.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    destination = Path(path)
    chosen = format or _format_from_suffix(destination)
    if chosen not in ("csv", "parquet"):
        raise InputError(f"Unknown output format {chosen!r} for {destination}: use csv or parquet.")
    if not destination.parent.is_dir():
        raise InputError(f"Cannot write {destination}: folder {destination.parent} does not exist.")
    chunks = iter_chunks(n_rows, seed, chunk_rows)  # validates the counts before creating a file
    with atomic_path(destination) as temporary:
        _write_chunks(temporary, chosen, chunks, progress)
    return destination


def _write_chunks(
    target: Path,
    format: str,
    chunks: Iterator[pa.Table],
    progress: Callable[[int], None] | None,
) -> None:
    written = 0
    writer: pq.ParquetWriter | pa_csv.CSVWriter
    if format == "parquet":
        writer = pq.ParquetWriter(target, SCHEMA, compression="zstd")
    else:
        writer = pa_csv.CSVWriter(target, SCHEMA, write_options=pa_csv.WriteOptions())
    with writer:
        for chunk in chunks:
            if format == "parquet":
                writer.write_table(chunk, row_group_size=max(chunk.num_rows, 1))
            else:
                writer.write_table(chunk)
            written += chunk.num_rows
            if progress is not None:
                progress(written)


def _format_from_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise InputError(
        f"Cannot tell the format of {path} from its suffix {suffix or '(none)'!r}: "
        "name it .csv or .parquet, or pass format='csv' or format='parquet'."
    )


def _check_count(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def _iter_blocks(n_rows: int, seed: int) -> Iterator[pa.Table]:
    full_blocks, last_rows = divmod(n_rows, BLOCK_ROWS)
    for block in range(full_blocks):
        yield _block(seed, block)
    if last_rows:
        yield _block(seed, full_blocks).slice(0, last_rows)


def _block(seed: int, block: int) -> pa.Table:
    """One block of ``BLOCK_ROWS`` rows from its own random stream."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, block])))
    patients = _draw_patients(rng)
    row_patient = np.repeat(np.arange(patients.count), patients.encounters)[:BLOCK_ROWS]
    n = row_patient.size
    first_row = block * BLOCK_ROWS

    seconds = _encounter_times(rng, patients.encounters, n)
    seen = (
        _INTERCEPT
        + _SITE_EFFECT[patients.site]
        + _SEX_EFFECT[patients.sex]
        + _AGE_EFFECT[patients.age]
        + _DEPRIVATION_EFFECT[patients.deprivation]
        + _SD_PATIENT_SEEN * patients.seen
    )[row_patient] + rng.normal(0.0, _SD_ENCOUNTER_SEEN, n)
    hidden = _SD_PATIENT_HIDDEN * patients.hidden[row_patient] + rng.normal(
        0.0, _SD_ENCOUNTER_HIDDEN, n
    )
    miscalibrated = patients.ethnicity[row_patient] == ETHNICITIES.index(MISCALIBRATED_GROUP[1])
    true_logit = seen + hidden + _season(seconds) + _MISCALIBRATION_SHIFT * miscalibrated
    label = rng.random(n) < _logistic(true_logit)

    score = _calibrated_risk(seen)
    clinician_logit = (
        _CLINICIAN_INTERCEPT
        + _CLINICIAN_SEEN_WEIGHT * (seen - _INTERCEPT)
        + _CLINICIAN_HIDDEN_WEIGHT * hidden
        + rng.normal(0.0, _CLINICIAN_SD, n)
    )
    clinician = np.clip(np.round(_logistic(clinician_logit), 2), 0.01, 0.99)
    score_missing = rng.random(n) < _SCORE_MISSING
    clinician_missing = rng.random(n) < _CLINICIAN_MISSING
    unlabelled = seconds >= _LABEL_CUTOFF_S

    patient_index = (first_row + np.arange(patients.count, dtype=np.int64))[row_patient]
    columns = [
        _ids(b"P", patient_index, seed, salt=0x5EED_0001),
        _ids(b"E", first_row + np.arange(n, dtype=np.int64), seed, salt=0x5EED_0002),
        _labels(SITES, patients.site[row_patient]),
        _labels(SEXES, patients.sex[row_patient]),
        _labels(AGE_BANDS, patients.age[row_patient]),
        _labels(ETHNICITIES, patients.ethnicity[row_patient]),
        pa.array((patients.deprivation[row_patient] + 1).astype(np.int8)),
        pa.array(seconds * 1_000_000, type=pa.timestamp("us", tz="UTC")),
        pa.array(score, mask=score_missing),
        pa.array(clinician, mask=clinician_missing),
        pa.array(label.astype(np.int8), mask=unlabelled),
    ]
    return pa.Table.from_arrays(columns, schema=SCHEMA)


class _Patients:
    """Patient-level attributes of one block, as parallel arrays."""

    def __init__(self, rng: np.random.Generator, count: int) -> None:
        self.count = count
        self.site = rng.choice(len(SITES), count, p=_SITE_P)
        self.sex = rng.choice(len(SEXES), count, p=_SEX_P)
        self.age = rng.choice(len(AGE_BANDS), count, p=_AGE_P)
        self.ethnicity = rng.choice(len(ETHNICITIES), count, p=_ETHNICITY_P)
        self.deprivation = rng.choice(len(_DEPRIVATION_P), count, p=_DEPRIVATION_P)
        self.seen = rng.standard_normal(count)
        self.hidden = rng.standard_normal(count)
        # Sicker patients come back more often: 1 to 6 encounters over the two years. The count
        # depends only on recorded risk, so the unrecorded risk stays unbiased across rows.
        rate = 1.1 * np.exp(0.35 * self.seen + 0.25 * (self.age - 2))
        self.encounters = 1 + np.minimum(rng.poisson(rate), _MAX_ENCOUNTERS - 1)

    def truncate(self, count: int) -> None:
        for name in ("site", "sex", "age", "ethnicity", "deprivation", "seen", "hidden"):
            setattr(self, name, getattr(self, name)[:count])
        self.encounters = self.encounters[:count]
        self.count = count


def _draw_patients(rng: np.random.Generator) -> _Patients:
    """Enough patients to fill one block (each has at least one encounter)."""
    patients = _Patients(rng, BLOCK_ROWS)
    filled = int(np.searchsorted(np.cumsum(patients.encounters), BLOCK_ROWS)) + 1
    patients.truncate(filled)
    return patients


def _encounter_times(rng: np.random.Generator, encounters: IntArray, n: int) -> IntArray:
    """Admission times in whole seconds: uniform over the period, in order within a patient."""
    seconds = rng.integers(0, _SPAN_S, size=int(encounters.sum()))
    starts = np.repeat(np.cumsum(encounters) - encounters, encounters)
    # Sort within each patient: order by (patient, time) with one stable sort.
    order = np.lexsort((seconds, starts))
    return (_START_S + seconds[order])[:n].astype(np.int64)


def _season(seconds: IntArray) -> FloatArray:
    """Winter excess risk, peaking in late January; unknown to the model."""
    days = (seconds - _START_S) / 86_400.0
    return np.asarray(_SEASON_AMPLITUDE * np.cos(2.0 * np.pi * (days - 20.0) / 365.25))


def _logistic(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _risk_table() -> tuple[FloatArray, FloatArray]:
    """E[logistic(m + r)], r ~ N(0, s^2), on a grid of m (Gauss-Hermite, 40 nodes)."""
    nodes, weights = np.polynomial.hermite.hermgauss(40)
    spread = np.hypot(_SD_PATIENT_HIDDEN, _SD_ENCOUNTER_HIDDEN)
    grid = np.linspace(-16.0, 12.0, 8_193)
    values = _logistic(grid[:, None] + np.sqrt(2.0) * spread * nodes[None, :]) @ weights
    return grid, values / np.sqrt(np.pi)


_RISK_GRID, _RISK_VALUES = _risk_table()


def _calibrated_risk(seen: FloatArray) -> FloatArray:
    return np.asarray(np.interp(seen, _RISK_GRID, _RISK_VALUES))


def _labels(names: tuple[str, ...], codes: IntArray) -> pa.Array:
    return pa.array(names, type=pa.string()).take(pa.array(codes))


def _mix64(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """SplitMix64 finaliser: a bijection of 64-bit integers (Steele et al., OOPSLA 2014)."""
    x = values.copy()
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _ids(prefix: bytes, index: IntArray, seed: int, *, salt: int) -> pa.Array:
    """Pseudonymous identifiers: prefix + 13 base-32 digits of a keyed bijection of ``index``."""
    key = _mix64(np.array([(seed * 0x9E3779B97F4A7C15 + salt) % 2**64], dtype=np.uint64))[0]
    coded = _mix64(index.astype(np.uint64) ^ key)
    shifts = np.arange(_ID_DIGITS - 1, -1, -1, dtype=np.uint64) * np.uint64(5)
    digits = ((coded[:, None] >> shifts[None, :]) & np.uint64(31)).astype(np.intp)
    width = _ID_DIGITS + len(prefix)
    text = np.empty((index.size, width), dtype=np.uint8)
    text[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    text[:, len(prefix) :] = _ID_ALPHABET[digits]
    offsets = np.arange(0, (index.size + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(
        index.size, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(text))
    )
