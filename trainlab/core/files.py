"""File checksums: an export's SHA-256 in its card, a download's MD5 against the published one."""
from __future__ import annotations

import hashlib
from pathlib import Path


def digest(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file, read a megabyte at a time."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
