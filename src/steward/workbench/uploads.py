"""Storing an uploaded data set: streamed to disk with its size limit and SHA-256, recognised as
CSV or Parquet by content, its columns listed; a file that cannot be read leaves nothing behind."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from pathlib import Path, PurePath
from typing import BinaryIO

import duckdb
from sqlalchemy.orm import Session

from steward.cube.sources import DataSource, open_source
from steward.errors import InputError
from steward.registry.models import Organisation, User
from steward.workbench.models import DataUpload

CHUNK = 1 << 20
SUFFIXES = {"csv": ".csv", "parquet": ".parquet"}


class UploadTooLargeError(InputError):
    """The upload is larger than ``STEWARD_UPLOAD_MAX_BYTES``."""


def uploads_dir(home: Path) -> Path:
    return home / "uploads"


def upload_path(home: Path, upload: DataUpload) -> Path:
    return uploads_dir(home) / upload.stored_name


def store_upload(
    session: Session,
    home: Path,
    organisation: Organisation,
    filename: str,
    stream: BinaryIO,
    max_bytes: int,
    uploaded_by: User | None = None,
) -> DataUpload:
    """Save ``stream`` as a data set of ``organisation``; InputError says what is wrong with it."""
    name = PurePath(filename or "data").name[:255] or "data"
    folder = uploads_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    upload_id = uuid.uuid4()
    partial = folder / f".{upload_id}.part"
    try:
        size, digest = _copy(stream, partial, max_bytes, name)
        source = _open(partial, name)
        stored = folder / f"{upload_id}{SUFFIXES[source.kind]}"
        os.replace(partial, stored)
    finally:
        partial.unlink(missing_ok=True)
    upload = DataUpload(
        id=upload_id,
        organisation_id=organisation.id,
        uploaded_by_id=uploaded_by.id if uploaded_by else None,
        filename=name,
        stored_name=stored.name,
        size_bytes=size,
        sha256=digest,
        kind=source.kind,
        columns={"names": list(source.columns), "types": list(source.types)},
    )
    session.add(upload)
    try:
        session.flush()
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    return upload


def _copy(stream: BinaryIO, target: Path, max_bytes: int, name: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with target.open("wb") as out:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise UploadTooLargeError(
                    f"{name} is larger than the upload limit of {max_bytes:,} bytes "
                    "(STEWARD_UPLOAD_MAX_BYTES)."
                )
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise InputError(f"{name} is empty: it has no header and no data rows.")
    return size, digest.hexdigest()


def _open(path: Path, name: str) -> DataSource:
    try:
        source = open_source(path)
    except InputError as error:
        raise InputError(_renamed(str(error), path, name)) from None
    except duckdb.Error as error:
        raise InputError(f"{name} could not be read as CSV or Parquet: {error}") from None
    return source


def _renamed(message: str, path: Path, name: str) -> str:
    """Error messages name the file the user uploaded, not where it is kept."""
    return re.sub(re.escape(str(path)), name, message)
