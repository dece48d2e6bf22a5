"""`prover audit --rebuild`: build a registered circuit again from its ONNX and data, and compare.

`audit` finds any file that changed since registration, but it cannot tell whether the
registered vk comes from the registered ONNX and data at all: a registration could name
an honest ONNX beside the settings and vk of some other circuit, and every file would
still match its own hash. A rebuild closes that gap. It makes settings, circuit and keys
afresh from the ONNX and data alone, in a scratch workdir with the given SRS, and
compares their hashes with the chain's record. Builds are deterministic (the tuner
decides on deterministic figures, settings.json is written in one canonical form), so an
honest registration reproduces field by field, the verifier's code included.

Two fields are shown but not compared, each with its reason: `circuitHash` (ezkl
serialises hash maps inside network.compiled in random order, so two compiles of one
settings file differ in bytes while their vk does not) and `lineageHash` (the lineage
records the library versions of the machine that trained).

The build itself belongs to the pipeline, a layer beside this one, so the caller passes
it in (`prover.pipeline.reproduce.rebuild_circuit` in the CLI).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prover import ezkl_api
from prover.artifacts import sha256_file
from prover.errors import SrsError, VersionMismatchError
from prover.evm.client import Chain
from prover.proving.circuit import Circuit
from prover.registry.contract import version_record
from prover.registry.versions import AuditReport, AuditRow, audit

#: builds the circuit afresh into the given empty workdir, with the given SRS (None: the dev SRS)
Rebuilder = Callable[[Path, Path | None], Circuit]

NOT_REPRODUCIBLE: dict[str, str] = {
    "circuitHash": "ezkl writes hash maps into network.compiled in random order; the vk is compared instead",
    "lineageHash": "records the library versions of the machine that trained",
}


@dataclass(frozen=True)
class RebuildReport:
    """The audit of a rebuilt circuit: `audit` holds the compared fields, `not_compared` the rest."""

    audit: AuditReport
    not_compared: list[AuditRow]
    rebuilt_vk: str

    @property
    def mismatched(self) -> list[str]:
        return self.audit.mismatched

    def notes(self) -> list[str]:
        """One line per field shown but not compared, and the rebuilt vk, for people."""
        lines = [f"not compared: {row.field} ({NOT_REPRODUCIBLE[row.field]})" for row in self.not_compared]
        return [*lines, f"rebuilt vk sha256 {self.rebuilt_vk}"]

    def describe(self) -> dict[str, Any]:
        """The report as JSON-able data for `--json`."""
        return self.audit.describe() | {
            "rebuilt": True,
            "rebuilt_vk_sha256": self.rebuilt_vk,
            "not_compared": [
                {"field": row.field, "onchain": row.onchain, "local": row.local, "why": NOT_REPRODUCIBLE[row.field]}
                for row in self.not_compared
            ],
        }


def check_rebuildable(record: dict[str, Any], srs: Path | None) -> None:
    """Refuse, before a build that takes minutes, what could not reproduce the record."""
    if record["ezklVersion"] != ezkl_api.EZKL_VERSION:
        raise VersionMismatchError(
            f"the version was registered with ezkl {record['ezklVersion']}, this is ezkl {ezkl_api.EZKL_VERSION}",
            hint=f"rebuild with ezkl=={record['ezklVersion']} installed",
        )
    if srs is not None and bytes.fromhex(sha256_file(srs)) != bytes(record["srsHash"]):
        raise SrsError(
            f"SRS {srs} is not the one the version was set up with (sha256 {bytes(record['srsHash']).hex()[:16]}...)",
            hint="pass the registered SRS file with --srs",
        )


def audit_rebuild(
    chain: Chain, registry: Any, model_id: int, version: int, rebuild: Rebuilder, srs: Path | None = None
) -> RebuildReport:
    """Rebuild into a scratch workdir (removed afterwards) and audit the result against the record."""
    check_rebuildable(version_record(chain, registry, model_id, version), srs)
    with tempfile.TemporaryDirectory(prefix="prover-rebuild-") as scratch:
        rebuilt = rebuild(Path(scratch), srs)
        report = audit(chain, registry, rebuilt, model_id, version)
        vk = sha256_file(rebuilt.paths.vk)
    compared = [row for row in report.rows if row.field not in NOT_REPRODUCIBLE]
    skipped = [row for row in report.rows if row.field in NOT_REPRODUCIBLE]
    return RebuildReport(dataclasses.replace(report, rows=compared), skipped, vk)
