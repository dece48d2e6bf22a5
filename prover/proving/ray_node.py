"""What runs on a Ray node: the node's artifact cache and the actor that proves one circuit.

ezkl reads its compiled circuit, proving key and SRS from files, so a node needs them on
its own disk. The driver puts each file into Ray's object store once; an actor that
finds the file missing from its node's cache pulls it from there (the object store moves
it to that node once, however many actors there ask), checks its sha256 and renames it
into place. The cache is keyed by sha256 alone: a second circuit with the same SRS, a
restarted actor, or the next batch tomorrow, finds its files there and pulls nothing.

Nothing here imports Ray at module level: the actor class is made remote by the driver,
and a node needs `zkml-prover[cluster]` installed like the driver.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from prover.artifacts import sha256_file
from prover.errors import DamagedArtifactError
from prover.proving.backends import ProofOutcome, ProofTask, prove_task
from prover.proving.prove import ProvingFiles

#: where a node keeps the artifacts it was sent; set it on each node (`ray start` passes
#: its environment to the workers) to put the cache on a larger or faster disk
CACHE_ENV = "PROVER_RAY_CACHE"


def node_cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zkml-prover" / "ray-artifacts"


@dataclass(frozen=True)
class Artifact:
    """One file a prover needs, as the driver shipped it: its digest, and the object-store
    reference the bytes can be pulled from (wrapped in a list so Ray does not resolve it
    when the actor is created: a node that has the file never pulls it)."""

    name: str
    sha256: str
    size: int
    ref: list[Any]


@dataclass(frozen=True)
class Staging:
    """How an actor got its files: the cold-node cost the benchmark reports."""

    node_id: str
    seconds: float
    pulled_bytes: int
    cached_files: int
    pid: int  # the actor's process, for diagnostics (and the test that kills one)


@dataclass(frozen=True)
class RemoteOutcome:
    """A proof made on a node travels back as bytes; the driver writes the file."""

    outcome: ProofOutcome
    proof_bytes: bytes | None
    node_id: str


def cached_artifact(root: Path, artifact: Artifact, fetch: Any) -> tuple[Path, int]:
    """The artifact's file in the node's cache, pulled with `fetch(ref)` if it is not
    there yet; and how many bytes were pulled. A file whose digest does not match is
    replaced, never used: a half-written or tampered cache costs one more transfer.

    The provers of one node start together: a lock per digest lets the first pull while
    the others wait and then find the file, so a cold node holds one copy in memory and
    writes one file, not one per prover."""
    target = root / artifact.sha256
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{artifact.sha256}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file() and target.stat().st_size == artifact.size and sha256_file(target) == artifact.sha256:
            return target, 0
        for leftover in root.glob(f".{artifact.sha256[:16]}-*.part"):  # a prover killed mid-write
            leftover.unlink(missing_ok=True)
        data = fetch(artifact.ref[0])
        if hashlib.sha256(data).hexdigest() != artifact.sha256:
            raise DamagedArtifactError(f"{artifact.name} arrived on this node with another sha256 than the driver sent")
        handle, temp = tempfile.mkstemp(dir=root, prefix=f".{artifact.sha256[:16]}-", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as sink:
                sink.write(data)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    return target, len(data)


class CircuitProver:
    """One circuit's prover on one node: created by the driver with the circuit's
    artifacts, it makes sure they are in the node's cache once, then proves task after
    task from there (the pool's workers stage into RAM; here the cache is the stage, and
    the kernel's page cache keeps the key in memory between proofs)."""

    def __init__(self, artifacts: list[Artifact], output_scales: list[int], threads: int, circuit_name: str) -> None:
        import ray

        os.environ["RAYON_NUM_THREADS"] = str(threads)  # read when ezkl first proves, not at import
        self.node_id: str = ray.get_runtime_context().get_node_id()
        start = time.perf_counter()
        self.artifacts, self.output_scales, self.circuit_name = artifacts, output_scales, circuit_name
        self.files, pulled, hits = self._stage()
        self.staging = Staging(self.node_id, time.perf_counter() - start, pulled, hits, os.getpid())

    def _stage(self) -> tuple[ProvingFiles, int, int]:
        import ray

        root = node_cache_root()
        paths, pulled, hits = [], 0, 0
        for artifact in self.artifacts:
            path, size = cached_artifact(root, artifact, ray.get)
            paths.append(path)
            pulled += size
            hits += size == 0
        log = root / "logs" / f"{self.circuit_name}.log"
        return ProvingFiles(paths[0], paths[1], paths[2], log, self.output_scales), pulled, hits

    def staged(self) -> Staging:
        return self.staging

    def prove(self, task: ProofTask) -> RemoteOutcome:
        """The one prove body, into a scratch folder of this node; the proof comes back
        as bytes, since the driver's --out folder need not exist here."""
        staged = zip((self.files.compiled, self.files.pk, self.files.srs), self.artifacts, strict=True)
        if any(not path.is_file() or path.stat().st_size != artifact.size for path, artifact in staged):
            self.files = self._stage()[0]  # someone cleared the node's cache under this prover
        with tempfile.TemporaryDirectory(prefix="prover-ray-") as scratch:
            local = replace(task, proof_out=Path(scratch) / "proof.json")
            outcome = prove_task(self.files, local)
            data = local.proof_out.read_bytes() if outcome.error is None else None
        return RemoteOutcome(replace(outcome, proof=None), data, self.node_id)
