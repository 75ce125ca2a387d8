"""The floor: the cheapest useful scan of the file, ``count(*)`` and ``sum(score)`` in DuckDB."""

from __future__ import annotations

import json
import sys

import duckdb


def main(path: str, score: str) -> None:
    query = f'SELECT count(*), sum("{score}") FROM read_parquet(?)'
    rows, total = duckdb.execute(query, [path]).fetchone()
    print(json.dumps({"rows": rows, "score_sum": total}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
