"""Files that appear whole or not at all: every output Steward writes goes through here."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from steward.errors import InputError


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds.

    The temporary file is created by whoever writes it (so it gets the usual permissions) and is
    removed if the block fails, so a reader never sees a half-written file.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise InputError(f"Cannot write {target}: folder {target.parent} does not exist.")
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.partial")
    try:
        yield temporary
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as written) to ``path`` atomically."""
    with atomic_path(path) as temporary:
        try:
            with temporary.open("x", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
        except OSError as exc:
            raise InputError(f"Could not write {path}: {exc.strerror or exc}.") from None
    return Path(path)
