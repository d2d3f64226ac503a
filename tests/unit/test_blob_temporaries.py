"""A blob directory's temporary files: what gc takes of them, and a staged file gone before its link."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from artifact_ledger import BlobStoreError
from artifact_ledger.blob_files import Temporaries, blob_files
from artifact_ledger.store.blob_dir import DirectoryBlobs


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _staged(store: DirectoryBlobs, data: bytes) -> Path:
    path = store.stage_chunk(_digest(data), data)
    assert path is not None
    return Path(path)


def test_a_temporary_file_gone_between_listing_and_stat_is_skipped(tmp_path: Path) -> None:
    store = DirectoryBlobs(tmp_path)
    path = _staged(store, b"linked and removed by its writer meanwhile")
    (entry,) = [e for e in os.scandir(path.parent) if e.name == path.name]
    path.unlink()
    found = Temporaries(cutoff=float("inf"))
    found.consider(entry, path.parent.parent.name + path.parent.name)  # no FileNotFoundError
    assert found.found == []


def test_a_stale_temporary_file_already_linked_under_its_hash_frees_no_bytes(tmp_path: Path) -> None:
    store = DirectoryBlobs(tmp_path)
    data = b"its writer died between link and unlink"
    linked, alone = _staged(store, data), _staged(store, b"never linked")
    os.link(linked, store.path(_digest(data)))
    found = Temporaries(cutoff=float("inf"))
    assert dict(blob_files(tmp_path, found)) == {_digest(data): len(data)}
    assert sorted(found.found) == sorted([(linked, 0), (alone, len(b"never linked"))])
    assert found.bytes == len(b"never linked")
    found.remove()
    assert not linked.exists()
    assert not alone.exists()
    assert store.read_outside(_digest(data)) == data  # the blob keeps its bytes


def test_a_staged_file_removed_before_its_link_fails_the_save_and_says_so(tmp_path: Path) -> None:
    store = DirectoryBlobs(tmp_path)
    data = b"a chunk of a streamed save"
    path = _staged(store, data)
    path.unlink()  # as gc --temporaries-older-than 0s does under a running save
    with pytest.raises(BlobStoreError, match=f"staged file {path} was removed.*Nothing was saved"):
        store._settle([(_digest(data), str(path))])
    assert not store.path(_digest(data)).exists()
