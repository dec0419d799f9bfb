"""Fixtures shared by every test.

chDB lets one process open one data directory, so every in-process index test
shares one session directory and gets a database of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkindex.client import Index, IndexLocation, open_index


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def index(index_dir: Path) -> Iterator[Index]:
    """A fresh, migrated index in a database of its own, dropped afterwards."""
    database = f"t_{uuid.uuid4().hex[:12]}"
    ix = open_index(IndexLocation(data_dir=str(index_dir), database=database))
    yield ix
    ix.command(f"DROP DATABASE IF EXISTS {database}")
