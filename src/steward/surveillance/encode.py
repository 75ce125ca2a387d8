"""What a batch of predictions stores besides its values: each row's content fingerprint and the
JSON text of its features and subgroup attributes, computed column by column.

The fingerprint of a prediction is the BLAKE2b-128 of a canonical text of its content, built
from the columns at once: the ids (a missing one as NUL), the time in microseconds since the
epoch, the score's IEEE 754 bits, then each present feature (by name, with its value's bits)
and subgroup attribute, length-prefixed so no value can pass for another. Equal content gives
an equal fingerprint whichever body format or path it came through. Predictions stored before
this scheme carry the row-by-row digest of ``rows.digest``; :func:`legacy_digest` recomputes
that for the few rows whose stored fingerprint differs, so they are still recognised as
duplicates.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from steward.surveillance.batch import EPOCH, ID_FIELDS, Batch, FloatArray, IntArray
from steward.surveillance.rows import digest, json_text

CONTENT_IDS = tuple(f for f in ID_FIELDS if f != "event_id")
_NULL = "\x00"


def _bits(values: FloatArray) -> pa.Array:
    """The IEEE 754 bits of each value as decimal text; NaN (missing) is null."""
    bits = pa.array(values.view(np.int64), pa.int64(), mask=np.isnan(values))
    return pc.cast(bits, pa.string())


def _tagged(tag: str, name: str, values: pa.Array) -> pa.Array:
    """``tag<len>:<name>=<value>`` per row; null where the value is missing."""
    return pc.binary_join_element_wise(f"{tag}{len(name)}:{name}=", values, "")


def fingerprints(batch: Batch) -> list[str]:
    """The content fingerprint of each row (subgroups already cleaned)."""
    parts: list[pa.Array] = [batch.ids[name] for name in CONTENT_IDS]
    parts.append(pc.cast(pa.array(batch.micros, pa.int64()), pa.string()))
    parts.append(_bits(batch.scores))
    tokens = [_tagged("f", k, _bits(batch.features[k])) for k in sorted(batch.features)]
    for name in sorted(batch.subgroups):
        values = batch.subgroups[name]
        sized = pc.binary_join_element_wise(
            pc.cast(pc.utf8_length(values), pa.string()), values, ":"
        )
        tokens.append(_tagged("s", name, sized))
    if tokens:
        # tokens delimit themselves (a name and a text value carry their lengths, bits end at
        # the next tag), so missing ones simply add nothing
        parts.append(
            pc.binary_join_element_wise(*tokens, "", null_handling="replace", null_replacement="")
        )
    text = pc.binary_join_element_wise(
        *parts, "\x1f", null_handling="replace", null_replacement=_NULL
    )
    # hash the UTF-8 bytes in place in the Arrow buffer (int32 offsets): no string per row
    assert pa.types.is_string(text.type)
    offsets = np.frombuffer(text.buffers()[1], np.int32)[text.offset : text.offset + len(text) + 1]
    data = memoryview(text.buffers()[2] or b"")
    blake = hashlib.blake2b
    bounds = offsets.tolist()
    return [
        blake(data[start:end], digest_size=16).hexdigest()
        for start, end in itertools.pairwise(bounds)
    ]


def feature_texts(batch: Batch) -> list[str | None]:
    """Canonical JSON of each row's present features (``rows.json_text``), None when none."""
    n = len(batch)
    names = sorted(batch.features)
    if not names:
        return [None] * n
    keys = [json.dumps(name) for name in names]
    columns = [batch.features[name] for name in names]
    present = np.column_stack([~np.isnan(c) for c in columns])
    out: list[str | None] = [None] * n
    full = present.all(axis=1)
    # most rows have every feature: one format per row, floats spelt by repr as json does
    template = "{" + ",".join(f"{k}:%r" for k in keys) + "}"
    values = [c.tolist() for c in columns]
    for i in np.flatnonzero(full).tolist():
        out[i] = template % tuple(v[i] for v in values)
    for i in np.flatnonzero(~full & present.any(axis=1)).tolist():
        items = [f"{keys[j]}:{values[j][i]!r}" for j in range(len(names)) if present[i, j]]
        out[i] = "{" + ",".join(items) + "}"
    return out


def subgroup_texts(batch: Batch) -> tuple[list[str | None], list[dict[str, str] | None]]:
    """Canonical JSON and the mapping of each row's present subgroup attributes (cleaned),
    computed once per distinct combination."""
    n = len(batch)
    names = sorted(batch.subgroups)
    if not names:
        return [None] * n, [None] * n
    columns: list[IntArray] = []
    levels: list[list[str | None]] = []
    for name in names:
        encoded = batch.subgroups[name].dictionary_encode()
        values = [*encoded.dictionary.to_pylist(), None]
        columns.append(np.asarray(encoded.indices.fill_null(len(values) - 1), np.int64))
        levels.append(values)
    unique, inverse = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
    texts: list[str | None] = []
    maps: list[dict[str, str] | None] = []
    for combination in unique.tolist():
        mapping = {
            name: values[index]
            for name, values, index in zip(names, levels, combination, strict=True)
            if values[index] is not None
        }
        maps.append(mapping or None)
        texts.append(json_text(mapping or None))
    order = inverse.reshape(-1).tolist()
    return [texts[i] for i in order], [maps[i] for i in order]


def legacy_digest(batch: Batch, i: int, features: str | None, subgroups: str | None) -> str:
    """The row-by-row digest (``rows.digest``) row ``i`` would have had before fingerprints."""
    ids = {name: batch.ids[name][i].as_py() for name in CONTENT_IDS}
    time = EPOCH + timedelta(microseconds=int(batch.micros[i]))
    return _legacy(ids, time, float(batch.scores[i]), features, subgroups)


def _legacy(
    ids: dict[str, str | None],
    time: datetime,
    score: float,
    features: str | None,
    subgroups: str | None,
) -> str:
    content = (ids["patient_id"], ids["encounter_id"], ids["card_id"], time, score)
    return digest(*content, ids["tool_version"], features, subgroups)


__all__ = ["feature_texts", "fingerprints", "json_text", "legacy_digest", "subgroup_texts"]
