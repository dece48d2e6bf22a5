"""Reproducible builds (issue 13, item 14): the same inputs give the same bytes and the same vk.

ezkl writes settings.json with a clock and in hash order (and lays its tables out in that
order, so the vk changed with it); the pipeline writes one canonical form. The reference
circuits' small files are committed under circuits/ and a fresh build must reproduce them
byte for byte, their published vk included (made with the reference SRS, the same file
on every machine).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import REFERENCE_MODELS, run_cli

from prover import ezkl_api
from prover.artifacts import circuit_paths, sha256_file
from prover.config import CircuitConfig
from prover.datasets import load_dataset, sample
from prover.pipeline.builds import build_reference
from prover.pipeline.finalists import layout_of
from prover.pipeline.kzg_setup import srs_bytes
from prover.pipeline.reproduce import PUBLISHED, PUBLISHED_FILES, published_json, published_record
from prover.pipeline.srs import dev_srs, reference_srs
from prover.progress import SilentReporter
from prover.proving.circuit import open_circuit
from prover.proving.prove import ProvingFiles, prove_sample, verify_proof

REPO = Path(__file__).resolve().parents[1]
REPUBLISH = "if the change is meant, run `prover build {name} --publish` in the repo root and commit circuits/{name}/"


def test_ezkl_settings_are_written_in_one_canonical_form(built: Path, tmp_path: Path) -> None:
    """Two gen_settings of one layout: byte-identical, sorted, no clock (ezkl alone differs)."""
    source = circuit_paths(built, "fee")
    layout = layout_of(source.settings, 2)
    outputs = [tmp_path / f"settings{index}.json" for index in range(2)]
    for out in outputs:
        ezkl_api.gen_settings(source.onnx, out, CircuitConfig(), layout, tmp_path / "ezkl.log", ["batch_size"])
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    document = json.loads(outputs[0].read_text())
    assert document["timestamp"] == 0
    assert document["required_range_checks"] == sorted(document["required_range_checks"])
    assert outputs[0].read_text() == ezkl_api.canonical_settings(document)
    assert source.settings.read_text() == ezkl_api.canonical_settings(json.loads(source.settings.read_text()))


def test_reference_srs_has_halo2s_layout_and_the_same_bytes_everywhere() -> None:
    """Same size, header, G1 and G2 generators as an SRS from ezkl's own gen_srs; a pure function of k."""
    ours, theirs = srs_bytes(7), Path(dev_srs(7).path).read_bytes()
    assert len(ours) == len(theirs) and ours[:4] == theirs[:4] == (7).to_bytes(4, "little")
    assert ours[4:68] == theirs[4:68], "g[0] is the G1 generator, Montgomery-encoded"
    assert ours[-256:-128] == theirs[-256:-128], "the G2 generator"
    assert ours != theirs, "a different secret"
    assert srs_bytes(7) == ours


def test_keys_made_with_the_reference_srs_prove_and_verify(built: Path, tmp_path: Path) -> None:
    """The strongest check of the file: ezkl sets up, proves and verifies with it (a wrong
    Lagrange basis or [tau]G2 would fail the pairing), and a dev-SRS vk refuses its proof."""
    circuit = open_circuit("fee", built)
    srs = reference_srs(circuit.info.logrows)
    vk, pk, log = tmp_path / "ref.vk", tmp_path / "ref.pk", tmp_path / "ezkl.log"
    ezkl_api.setup(circuit.paths.compiled, vk, pk, srs, log)
    calibration = load_dataset(circuit.paths.calibration, circuit.info.input_shapes)
    files = ProvingFiles(circuit.paths.compiled, pk, srs, log, circuit.info.output_scales)
    proof = tmp_path / "proof.json"
    prove_sample(files, sample(calibration, 0), proof, keep_witness=False)
    assert verify_proof(proof, circuit.paths.settings, vk, srs, log).valid
    assert not verify_proof(proof, circuit.paths.settings, circuit.paths.vk, srs, log).valid


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_committed_circuit_files_are_what_a_fresh_build_makes(built: Path, name: str) -> None:
    """circuits/<name>/ in the repo: network.onnx, settings.json and published.json, byte for byte."""
    circuit = open_circuit(name, built)
    made = {
        "network.onnx": circuit.paths.onnx.read_bytes(),
        "settings.json": circuit.paths.settings.read_bytes(),
        PUBLISHED: published_json(published_record(circuit)).encode(),
    }
    assert set(made) == set(PUBLISHED_FILES)
    record = json.loads(made[PUBLISHED])
    assert '"/' not in made[PUBLISHED].decode(), "no absolute path in a published record"
    assert record["files"]["settings.json"] == sha256_file(circuit.paths.settings)
    for file, content in made.items():
        committed = REPO / "circuits" / name / file
        assert committed.exists(), f"{committed} is missing: " + REPUBLISH.format(name=name)
        assert committed.read_bytes() == content, f"{committed} differs from a fresh build: " + REPUBLISH.format(
            name=name
        )


@pytest.mark.slow
def test_two_fresh_builds_give_the_same_bytes_and_vk(tmp_path: Path) -> None:
    """Build fee twice from nothing (a library build, and the CLI in a checkout holding only
    the committed files): same settings.json and network.onnx, same vk with one dev SRS,
    and the checkout's committed files rewritten to the same bytes."""
    first = tmp_path / "first"
    build_reference("fee", first, reporter=SilentReporter())
    checkout = tmp_path / "checkout"
    (checkout / "circuits" / "fee").mkdir(parents=True)
    for file in PUBLISHED_FILES:
        shutil.copyfile(REPO / "circuits" / "fee" / file, checkout / "circuits" / "fee" / file)
    result = run_cli("build", "fee", "--publish", "--workdir", checkout)
    assert result.code == 0, result.stderr
    one, two = circuit_paths(first, "fee"), circuit_paths(checkout, "fee")
    assert one.settings.read_bytes() == two.settings.read_bytes()
    assert one.onnx.read_bytes() == two.onnx.read_bytes()
    vks = sha256_file(one.vk), sha256_file(two.vk)
    print(f"fee vk sha256 with one dev SRS: first build {vks[0]}, second build {vks[1]}")
    assert vks[0] == vks[1]
    for file in PUBLISHED_FILES:
        assert (two.root / file).read_bytes() == (REPO / "circuits" / "fee" / file).read_bytes(), file
