"""Content hashes: of a frame (recorded in a bundle's metadata to name the data it was trained
on) and of a file (a bundle's files, a base model's weights, a downloaded model's files)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash for metadata: same rows, same order, same values -> same string."""
    digest = hashlib.sha256()
    for col in frame.columns:
        series = frame[col].reset_index(drop=True)
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            series = series.dt.tz_convert("UTC").dt.as_unit("us")
            kind = "datetime"
        elif pd.api.types.is_float_dtype(series.dtype):
            kind = "float"
        else:
            series = series.astype(object).where(series.notna(), None)
            kind = "object"
        digest.update(f"{col}\x1f{kind}\x1e".encode())
        hashes = pd.util.hash_pandas_object(series, index=False).to_numpy(dtype="<u8")
        digest.update(hashes.tobytes())
    digest.update(f"rows={len(frame)}".encode())
    return f"sha256:{digest.hexdigest()}"


def sha256_file(path: str | Path) -> str:
    """The hex SHA-256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
