"""Reproducible builds: a circuit's published record, and a rebuild of a circuit from its inputs.

A build is a function of its inputs: the ONNX (or a reference model's seeded recipe),
the calibration and held-out data, the config, the ezkl version and the SRS. The tuner
decides on deterministic figures only and settings.json is written in one canonical
form (ezkl_api.canonical_settings), so the same inputs give the same settings.json
byte for byte and, with the same SRS, the same vk.

`publish` writes `published.json` beside a built circuit: the hashes of those inputs and
of settings.json, and the vk made with the reference SRS (kzg_setup.py), which is the
same file on every machine, so the record holds nothing local (no path, no timing, no
dev SRS) and anyone can check it. The repo commits the reference models' network.onnx,
settings.json and published.json under `circuits/`; tests/test_reproducible.py rebuilds
them and compares bytes.

`rebuild_circuit` builds a circuit afresh from what its manifest says it was built from,
into another workdir; `prover audit --rebuild` compares that with a registered version
(prover/registry/rebuild.py).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from pydantic import BaseModel

from prover import ezkl_api
from prover.artifacts import sha256_file, write_bytes_atomic
from prover.config import CircuitConfig
from prover.pipeline.builds import build_onnx, build_reference
from prover.pipeline.srs import reference_srs
from prover.pipeline.tuner import TUNER_VERSION
from prover.pipeline.user_model import UserModel
from prover.progress import Reporter
from prover.provenance import Lineage
from prover.proving.circuit import Circuit, open_circuit

PUBLISHED = "published.json"
#: what a published circuit folder holds in git; everything else there is build output
PUBLISHED_FILES = ("network.onnx", "settings.json", PUBLISHED)
PUBLISHED_SCHEMA = 1
#: the build's files a published record names, when the build has them
INPUT_FILES = ("network.onnx", "training_data.npz", "calibration.json", "heldout.json", "settings.json")


class PublishedVk(BaseModel):
    """The vk made from the circuit with the reference SRS of its logrows."""

    sha256: str
    srs: str = "reference"
    srs_logrows: int
    srs_sha256: str


class PublishedRecord(BaseModel):
    """What published.json holds: machine-independent, so two machines write the same bytes."""

    schema_version: int = PUBLISHED_SCHEMA
    name: str
    source: str
    model: str | None  # the reference model a reference circuit was trained from
    batch: int
    ezkl_version: str
    tuner_version: str
    settings_form: str
    config: CircuitConfig
    logrows: int
    files: dict[str, str]  # file name -> sha256
    vk: PublishedVk


def reference_model(circuit: Circuit) -> str | None:
    """The reference model a circuit was trained from, as its lineage records (the circuit's
    name may be a variant's, such as fee__hashed_params)."""
    if circuit.manifest.source != "reference":
        return None
    return Lineage.model_validate_json(circuit.paths.lineage.read_text()).model


def reference_vksha256_file(circuit: Circuit) -> PublishedVk:
    """Set the circuit up with the reference SRS in a scratch folder; the vk's sha256.

    The compiled circuit is the build's own: its bytes vary from compile to compile (ezkl
    serialises hash maps), but the vk it gives does not.
    """
    logrows = circuit.info.logrows
    srs = reference_srs(logrows)
    with tempfile.TemporaryDirectory(prefix="prover-publish-") as scratch:
        folder = Path(scratch)
        vk, pk = folder / "reference.vk", folder / "reference.pk"
        ezkl_api.setup(circuit.paths.compiled, vk, pk, srs, circuit.paths.log)
        digest = sha256_file(vk)
    return PublishedVk(sha256=digest, srs_logrows=logrows, srs_sha256=sha256_file(srs))


def published_record(circuit: Circuit) -> PublishedRecord:
    """The circuit's record as published.json holds it (see the module docstring)."""
    files = {
        name: sha256_file(circuit.paths.root / name) for name in INPUT_FILES if (circuit.paths.root / name).exists()
    }
    return PublishedRecord(
        name=circuit.name,
        source=circuit.manifest.source,
        model=reference_model(circuit),
        batch=circuit.manifest.batch,
        ezkl_version=circuit.manifest.ezkl_version,
        tuner_version=TUNER_VERSION,
        settings_form=ezkl_api.SETTINGS_FORM,
        config=circuit.manifest.config,
        logrows=circuit.info.logrows,
        files=files,
        vk=reference_vksha256_file(circuit),
    )


def published_json(record: PublishedRecord) -> str:
    return json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def publish(circuit: Circuit) -> Path:
    """Write `published.json` beside the built circuit; its path.

    In the repo's root workdir, `prover build fee --publish` leaves circuits/fee/ with
    exactly the three files git tracks there (PUBLISHED_FILES) up to date.
    """
    target = circuit.paths.root / PUBLISHED
    write_bytes_atomic(target, published_json(published_record(circuit)).encode())
    return target


def rebuild_circuit(
    source: Circuit, workdir: Path, *, srs: Path | None = None, reporter: Reporter | None = None
) -> Circuit:
    """Build `source` again under `workdir` from what it was built from, and open it.

    A reference circuit is trained again from its model's seeded recipe (which must give
    the same ONNX); a circuit from a user's ONNX is built from its network.onnx and data
    files. Either way with the config its manifest records, and `srs` (default: the dev
    SRS, as `prover build`). Nothing of the source's derived files (settings, compiled
    circuit, keys) is read.
    """
    manifest, paths = source.manifest, source.paths
    model = reference_model(source)
    if model is not None:
        build_reference(
            model,
            workdir,
            overrides=manifest.config.model_dump(),
            srs=srs,
            reporter=reporter,
            circuit_name=source.name,
            batch=manifest.batch,
        )
    else:
        heldout = paths.heldout if "heldout" in manifest.files else None
        user = UserModel(paths.onnx, paths.calibration, heldout)
        build_onnx(source.name, workdir, user, manifest.config, srs=srs, reporter=reporter)
    return open_circuit(source.name, workdir)
