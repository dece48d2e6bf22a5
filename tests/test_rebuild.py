"""`prover audit --rebuild` on a real anvil: a registered version rebuilt from its ONNX and data.

The module registers the built fee circuit once. An honest registration rebuilds to the
same settings, vk and verifier code; a registration whose settings do not follow from
the inputs and config it names fails naming those fields, while the plain audit (files
against hashes) passes; what could not reproduce the record is refused before building.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import CliResult, assert_clean_error, run_cli

from prover.artifacts import Manifest
from prover.errors import VersionMismatchError
from prover.evm.client import Chain
from prover.evm.node import DEV_PRIVATE_KEY
from prover.proving.circuit import Circuit, open_circuit
from prover.registry.contract import open_registry
from prover.registry.rebuild import check_rebuildable
from prover.registry.versions import register

pytestmark = pytest.mark.chain


@dataclass(frozen=True)
class RebuildEnv:
    chain: Chain
    work: Path
    circuit: Circuit
    registry: Any


@pytest.fixture(scope="module")
def rebuild_env(module_chain: Chain, built: Path, tmp_path_factory: pytest.TempPathFactory) -> RebuildEnv:
    work = tmp_path_factory.mktemp("rebuild") / "work"
    shutil.copytree(built / "circuits" / "fee", work / "circuits" / "fee")
    circuit = open_circuit("fee", work)
    registry = open_registry(module_chain, work, deploy_if_missing=True)
    register(module_chain, registry, circuit)
    return RebuildEnv(module_chain, work, circuit, registry)


def audit_cli(env: RebuildEnv, *args: str | Path, workdir: Path | None = None) -> CliResult:
    """`prover audit fee` as a third party would run it: registry and model named."""
    assert env.chain.node is not None
    return run_cli(
        "audit",
        "fee",
        *args,
        "--registry",
        env.registry.address,
        "--model",
        "1",
        "--rpc-url",
        env.chain.node.rpc_url,
        "--private-key",
        DEV_PRIVATE_KEY,
        "--workdir",
        workdir or env.work,
    )


@pytest.mark.slow
def test_an_honest_registration_rebuilds_to_the_registered_vk(rebuild_env: RebuildEnv) -> None:
    """Trained again from the recipe, tuned again, set up again: every compared field matches."""
    result = audit_cli(rebuild_env, "--rebuild", "--json")
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    fields = {row["field"]: row for row in report["fields"]}
    assert report["rebuilt"] and report["mismatched"] == []
    assert {"onnxHash", "datasetHash", "settingsHash", "vkHash", "srsHash", "verifier code"} <= set(fields)
    assert {row["field"] for row in report["not_compared"]} == {"circuitHash", "lineageHash"}
    registered = fields["vkHash"]["onchain"].removeprefix("0x")
    print(f"fee vk sha256: registered {registered}, rebuilt {report['rebuilt_vk_sha256']}")
    assert registered == report["rebuilt_vk_sha256"] == rebuild_env.circuit.manifest.files["vk"].sha256


def test_settings_that_do_not_follow_from_the_inputs_fail_the_rebuild(rebuild_env: RebuildEnv, tmp_path: Path) -> None:
    """The registered files are untouched (the plain audit passes), but the config they claim
    (here a manual layout, cheap to build) does not give the registered settings and vk."""
    theirs = tmp_path / "theirs"
    shutil.copytree(rebuild_env.circuit.paths.root, theirs / "circuits" / "fee")
    manifest_path = theirs / "circuits" / "fee" / "manifest.json"
    manifest = Manifest.model_validate_json(manifest_path.read_text())
    manual = {"settings": "manual", "input_scale": 8, "param_scale": 10, "decomp_base": 1024, "decomp_legs": 3}
    manifest.config = manifest.config.model_copy(update=manual)
    manifest_path.write_text(manifest.model_dump_json())
    assert audit_cli(rebuild_env, workdir=theirs).code == 0
    result = audit_cli(rebuild_env, "--rebuild", "--json", workdir=theirs)
    assert result.code == 1, result.stderr
    mismatched = json.loads(result.stdout)["mismatched"]
    assert "settingsHash" in mismatched and "vkHash" in mismatched
    assert "onnxHash" not in mismatched and "datasetHash" not in mismatched
    assert "error: fee rebuilt from its ONNX and data differs from its on-chain record in:" in result.stderr
    assert "Traceback" not in result.stderr


def test_another_srs_is_refused_before_building(rebuild_env: RebuildEnv, tmp_path: Path) -> None:
    junk = tmp_path / "other.srs"
    junk.write_bytes(b"\x07\x00\x00\x00" + bytes(64))
    assert_clean_error(audit_cli(rebuild_env, "--rebuild", "--srs", junk), "is not the one the version was set up")
    assert_clean_error(audit_cli(rebuild_env, "--srs", junk), "--srs is for --rebuild")


def test_another_ezkl_version_is_refused_before_building() -> None:
    with pytest.raises(VersionMismatchError, match=r"registered with ezkl 0\.0\.1"):
        check_rebuildable({"ezklVersion": "0.0.1", "srsHash": bytes(32)}, None)
