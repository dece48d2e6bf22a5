"""A Ray node's artifact cache, without Ray: files named by their sha256, pulled once
however many provers of the node ask at once, never used when damaged.

`fetch` stands in for `ray.get` on the object-store reference (the cluster itself is
test_cluster.py's).
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from prover.errors import DamagedArtifactError
from prover.proving.ray_node import Artifact, cached_artifact

DATA = bytes(range(256)) * 4096  # 1 MiB


class Store:
    """Counts pulls; slow enough that concurrent provers overlap."""

    def __init__(self, data: bytes = DATA) -> None:
        self.data, self.pulls = data, 0
        self.lock = threading.Lock()

    def fetch(self, ref: object) -> bytes:
        with self.lock:
            self.pulls += 1
        time.sleep(0.05)
        return self.data


def artifact(data: bytes = DATA) -> Artifact:
    return Artifact("key.pk", hashlib.sha256(data).hexdigest(), len(data), ["ref"])


def test_pulled_once_then_found(tmp_path: Path) -> None:
    store = Store()
    path, pulled = cached_artifact(tmp_path, artifact(), store.fetch)
    assert pulled == len(DATA) and path.name == artifact().sha256 and path.read_bytes() == DATA
    again, pulled_again = cached_artifact(tmp_path, artifact(), store.fetch)
    assert (again, pulled_again, store.pulls) == (path, 0, 1)


def test_provers_starting_together_pull_once(tmp_path: Path) -> None:
    store = Store()
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(cached_artifact(tmp_path, artifact(), store.fetch)[1]))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.pulls == 1 and sorted(results) == [0, 0, 0, len(DATA)]
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == [artifact().sha256]


def test_a_damaged_entry_of_the_right_size_is_replaced(tmp_path: Path) -> None:
    (tmp_path / artifact().sha256).write_bytes(b"\0" * len(DATA))
    (tmp_path / f".{artifact().sha256[:16]}-abc.part").write_bytes(b"half")  # a prover killed mid-write
    store = Store()
    path, pulled = cached_artifact(tmp_path, artifact(), store.fetch)
    assert pulled == len(DATA) and path.read_bytes() == DATA
    assert not list(tmp_path.glob("*.part"))


def test_bytes_that_do_not_match_the_digest_are_refused(tmp_path: Path) -> None:
    store = Store(b"something else")
    with pytest.raises(DamagedArtifactError, match="another sha256"):
        cached_artifact(tmp_path, artifact(), store.fetch)
    assert not (tmp_path / artifact().sha256).exists()
