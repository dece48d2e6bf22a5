"""SRS stage: a supplied public SRS (checked), or a cached dev SRS (insecure, said so).

`ezkl.gen_srs` samples a fresh secret every call and its caller knew that secret, so a
dev SRS lets its maker forge proofs: fine for development, never for production. Keys
and verifiers depend on the SRS, which is why one dev SRS per logrows is generated once,
cached, and its sha256 recorded in the manifest. A third kind, the reference SRS, only
makes the vk that a published record names (reproduce.py), so it is the same everywhere.
"""

from __future__ import annotations

import fcntl
import os
import struct
from collections.abc import Callable
from pathlib import Path

from prover import ezkl_api
from prover.artifacts import SrsRecord, atomic_path, sha256_file
from prover.errors import SrsError
from prover.pipeline import kzg_setup

DEV_SRS_WARNING = (
    "using a dev SRS generated on this machine: INSECURE, for development only "
    "(pass --srs with a public powers-of-tau file for anything real)"
)

# sha256 of the public KZG (BN254) SRS files kzg{k}.srs that ezkl distributes, by k, as
# listed in ezkl's own table (src/srs_sha.rs); a supplied file of a known k must match.
PUBLIC_SRS_SHA256: dict[int, str] = {
    1: "cafb2aa72c200ddc4e28aacabb8066e829207e2484b8d17059a566232f8a297b",
    2: "8194ec51da5d332d2e17283ade34920644774452c2fadf33742e8c739e275d8e",
    3: "0729e815bce2ac4dfad7819982c6479c3b22c32b71f64dca05e8fdd90e8535ef",
    4: "2c0785da20217fcafd3b12cc363a95eb2529037cc8a9bddf8fb15025cbc8cdc9",
    5: "5b950e3b76e7a9923d69f6d6585ce6b5f9458e5ec57a71c9de5005d32d544692",
    6: "85030b2924111fc60acaf4fb8a7bad89531fbe0271aeab0c21e545f71eee273d",
    7: "e65f95150519fe01c2bedf8f832f5249822ef84c9c017307419e10374ff9eeb1",
    8: "446092fd1d6030e5bb2f2a8368267d5ed0fbdb6a766f6c5e4a4841827ad3106f",
    9: "493d088951882ad81af11e08c791a38a37c0ffff14578cf2c7fb9b7bca654d8b",
    10: "9705d450e5dfd06adb673705f7bc34418ec86339203198beceb2ae7f1ffefedb",
    11: "257fa566ed9bc0767d3e63e92b5e966829fa3347d320a32055dc31ee7d33f8a4",
    12: "28b151069f41abc121baa6d2eaa8f9e4c4d8326ddbefee2bd9c0776b80ac6fad",
    13: "d5d94bb25bdc024f649213593027d861042ee807cafd94b49b54f1663f8f267d",
    14: "c09129f064c08ecb07ea3689a2247dcc177de6837e7d2f5f946e30453abbccef",
    15: "90807800a1c3b248a452e1732c45ee5099f38b737356f5542c0584ec9c3ebb45",
    16: "2a1a494630e71bc026dd5c0eab4c1b9a5dbc656228c1f0d48f5dbd3909b161d3",
    17: "41509f380362a8d14401c5ae92073154922fe23e45459ce6f696f58607655db7",
    18: "d0148475717a2ba269784a178cb0ab617bc77f16c58d4a3cbdfe785b591c7034",
    19: "d1a1655b4366a766d1578beb257849a92bf91cb1358c1a2c37ab180c5d3a204d",
    20: "54ef75911da76d7a6b7ea341998aaf66cb06c679c53e0a88a4fe070dd3add963",
    21: "486e044cf98704e07f41137d2b89698dc03d1fbf34d13b60902fea19a6013b4b",
    22: "1ee9b4396db3e4e2516ac5016626ab6ba967f091d5d23afbdb7df122a0bb9d0c",
    23: "748e48b9b6d06f9c82d26bf551d0af43ee2e801e4be56d7ccb20312e267fd1d6",
    24: "f94fa4afa2f5147680f907d4dd96a8826206c26bd3328cd379feaed614b234de",
    25: "dec49a69893fbcd66cd06296b2d936a6aceb431c130b2e52675fe4274b504f57",
    26: "b198a51d48b88181508d8e4ea9dea39db285e4585663b29b7e4ded0c22a94875",
}


def cache_dir() -> Path:
    """Where dev SRS files live: $PROVER_CACHE_DIR/srs, else ~/.cache/prover/srs."""
    base = os.environ.get("PROVER_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "prover"
    return root / "srs"


def srs_logrows(path: Path) -> int:
    """k from a halo2 KZG params file: a little-endian u32 header, then 2^k G1 points."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(4)
    except OSError as exc:
        raise SrsError(f"cannot read SRS {path}: {exc.strerror}") from None
    if len(header) != 4:
        raise SrsError(f"{path} is not an SRS file (too short)")
    k = struct.unpack("<I", header)[0]
    if not 1 <= k <= 28:
        raise SrsError(f"{path} is not a KZG SRS file (header says k={k})")
    return k


def supplied_srs(path: Path, logrows: int) -> SrsRecord:
    """A user's SRS file: big enough, and equal to the public file when we know its hash."""
    path = Path(path).resolve()
    if not path.exists():
        raise SrsError(f"SRS file {path} does not exist")
    if not path.is_file():
        raise SrsError(f"SRS file {path} is not a regular file (a folder, device, FIFO or socket)")
    k = srs_logrows(path)
    if k < logrows:
        raise SrsError(
            f"SRS {path} has k={k}, the circuit needs logrows {logrows}",
            hint=f"supply kzg{logrows}.srs or larger",
        )
    digest = sha256_file(path)
    expected = PUBLIC_SRS_SHA256.get(k)
    if expected is not None and digest != expected:
        raise SrsError(
            f"SRS {path} (k={k}) has sha256 {digest[:16]}..., the public kzg{k}.srs has {expected[:16]}...",
            hint="use an untampered copy of the public file",
        )
    return SrsRecord(path=str(path), sha256=digest, logrows=k, kind="supplied", known_public=expected is not None)


def _cached(name: str, make: Callable[[Path], object]) -> Path:
    """`name` in the SRS cache, made by `make(path)` under the cache lock the first time
    (two builds needing one SRS make it once), written atomically."""
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists():
            with atomic_path(target) as tmp:
                make(tmp)
    return target


def _generate_dev(logrows: int, tmp: Path) -> None:
    tmp.unlink()  # ezkl's gen_srs refuses an existing file
    ezkl_api.gen_srs(tmp, logrows, log=None)


def dev_srs(logrows: int) -> SrsRecord:
    """The cached dev SRS for `logrows`, generated the first time."""
    target = _cached(f"dev-kzg{logrows}.srs", lambda tmp: _generate_dev(logrows, tmp))
    return SrsRecord(path=str(target), sha256=sha256_file(target), logrows=logrows, kind="dev")


def reference_srs(logrows: int) -> Path:
    """The reference SRS for `logrows` (kzg_setup.py: public secret, same bytes everywhere),
    made the first time. For published vk hashes only: anyone can forge proofs against keys
    made with it."""
    return _cached(f"reference-kzg{logrows}.srs", lambda tmp: tmp.write_bytes(kzg_setup.srs_bytes(logrows)))
