"""Find the shared fixture data that tests read in place from ../shared/data, never copied."""
import os
from pathlib import Path

import pytest


def shared_data_dir() -> Path:
    """`<repo>/../shared/data`."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def require_shared_data(path: Path | str) -> Path:
    """Return `path` (relative ones are under shared_data_dir()) if the file exists.

    Otherwise skip the test, except under CI, where the data must be present and its absence
    fails the test instead of silently skipping it.
    """
    path = Path(path)
    if not path.is_absolute():
        path = shared_data_dir() / path
    if not path.is_file():
        reason = f"../shared/data is absent: {path} not found"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path
