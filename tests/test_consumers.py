"""Consumers as plug-ins: the lookup, the second consumer (the digits label book) end to end
with real proofs, and `prover deploy / submit / consumers` driving any of them.

The label book was written from docs/consumers.md, so these tests are also the guide's
proof: a contract on the ZkmlConsumer template plus one Python class, nothing else.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_clean_error, run_cli
from contract_env import reverted

from models import get_model
from prover.consumers import UnknownConsumerError, consumer_names, find_consumer, get_consumer, register_consumer
from prover.consumers.base import Pin, consumer_contract, deploy_consumer, submit
from prover.consumers.digits import DigitLabelsConsumer, read_pixels
from prover.errors import ChainError, InputError, ProverError, TransactionReverted
from prover.evm.client import Chain, call
from prover.evm.node import DEV_PRIVATE_KEY, AnvilNode
from prover.evm.verifier import deploy_verifier
from prover.pipeline.export import run_onnx
from prover.proving.circuit import Circuit, open_circuit
from prover.proving.prove import write_input

pytestmark = pytest.mark.chain

DIGITS = DigitLabelsConsumer()


@dataclass(frozen=True)
class LabelBookEnv:
    chain: Chain
    work: Path
    circuit: Circuit
    verifier: str
    book: Any


def held_out_image(folder: Path, index: int) -> Path:
    """Held-out image `index`, as `prover example digits --index N` writes it."""
    path = folder / f"image-{index}.json"
    write_input(path, [get_model("digits").heldout_set()[index : index + 1]])
    return path


@pytest.fixture(scope="module")
def book_env(module_chain: Chain, built: Path, tmp_path_factory: pytest.TempPathFactory) -> LabelBookEnv:
    """The digits verifier and a label book pinned to it, on the session's anvil."""
    work = tmp_path_factory.mktemp("labels") / "work"
    shutil.copytree(built / "circuits" / "digits", work / "circuits" / "digits")
    circuit = open_circuit("digits", work)
    verifier = deploy_verifier(module_chain, circuit).address
    deployed = deploy_consumer(module_chain, DIGITS, circuit, Pin(verifier))
    return LabelBookEnv(
        module_chain, work, circuit, verifier, consumer_contract(module_chain, DIGITS, circuit, deployed.address)
    )


def test_lookup_knows_the_built_in_consumers_and_names_the_missing_one() -> None:
    assert {"fee", "digits"} <= set(consumer_names())
    assert get_consumer("digits").contract == "DigitLabels" and find_consumer("nosuch") is None
    with pytest.raises(UnknownConsumerError) as info:
        get_consumer("nosuch")
    assert "fee" in info.value.hint and "docs/consumers.md" in info.value.hint


def test_a_consumer_registers_in_code_or_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Your own consumer, without touching the toolkit: registered in code, or named in
    $PROVER_CONSUMERS as module:attribute (entry points work the same way)."""
    mine = DigitLabelsConsumer(name="my_labels")
    assert register_consumer(mine) is get_consumer("my_labels")
    (tmp_path / "shop_consumer.py").write_text(
        textwrap.dedent("""
        from prover.consumers.digits import DigitLabelsConsumer
        SHOP = DigitLabelsConsumer(name="shop")
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PROVER_CONSUMERS", "shop_consumer:SHOP")
    assert "shop" in consumer_names() and get_consumer("shop").contract == "DigitLabels"
    monkeypatch.setenv("PROVER_CONSUMERS", "shop_consumer:NOPE")
    with pytest.raises(ProverError, match="cannot load consumer"):
        consumer_names()
    monkeypatch.setenv("PROVER_CONSUMERS", "json:dumps")  # loads, but is no consumer
    with pytest.raises(ProverError, match="is not a consumer"):
        consumer_names()
    assert_clean_error(run_cli("consumers"), "'json:dumps'", "not a consumer")


def test_label_book_records_the_models_own_decision(book_env: LabelBookEnv, tmp_path: Path) -> None:
    """A real proof of a held-out image: the label is the argmax the model gives, on chain."""
    model = get_model("digits")
    for index in (0, 1):
        image = held_out_image(tmp_path, index)
        done = submit(book_env.chain, DIGITS, book_env.circuit, book_env.book, tmp_path / f"{index}.proof.json", image)
        logits = np.asarray(done.outputs).reshape(1, -1)
        assert done.details["digit"] == int(model.decisions(logits)[0])
        assert done.verify_gas is not None and done.verify_gas > 0 and done.gas_used > done.verify_gas
        labelled, digit = call(book_env.chain, book_env.book, "labelOf", bytes.fromhex(done.details["image_hash"][2:]))
        assert labelled and digit == done.details["digit"]


def test_label_book_refuses_a_second_label_for_the_same_image(book_env: LabelBookEnv, tmp_path: Path) -> None:
    """Freshness is keyed on the image, never on the proof: a fresh proof of it is refused by name."""
    image = held_out_image(tmp_path, 2)
    first = submit(book_env.chain, DIGITS, book_env.circuit, book_env.book, tmp_path / "a.proof.json", image)
    with pytest.raises(TransactionReverted) as info:
        submit(book_env.chain, DIGITS, book_env.circuit, book_env.book, tmp_path / "b.proof.json", image)
    assert info.value.error_name == "AlreadyLabelled"
    assert info.value.error_args[1] == first.details["digit"]


def test_label_book_reads_pixels_and_refuses_what_is_not_an_image(tmp_path: Path) -> None:
    image = held_out_image(tmp_path, 3)
    pixels = read_pixels(image)
    assert len(pixels) == 64 and min(pixels) >= 0 and max(pixels) <= 16
    (tmp_path / "raw.json").write_text(json.dumps({"pixels": pixels}))
    assert read_pixels(tmp_path / "raw.json") == pixels
    (tmp_path / "half.json").write_text(json.dumps({"pixels": [0.5] * 64}))
    (tmp_path / "short.json").write_text(json.dumps({"pixels": [1] * 63}))
    for bad in ("half.json", "short.json"):
        with pytest.raises(InputError):
            read_pixels(tmp_path / bad)


@pytest.mark.slow
def test_cli_deploys_and_submits_to_any_consumer(book_env: LabelBookEnv, tmp_path: Path) -> None:
    """`prover deploy digits` then `prover submit digits --input IMAGE` on one node, as a user would."""
    assert book_env.chain.node is not None
    url = book_env.chain.node.rpc_url
    common = ("--rpc-url", url, "--private-key", DEV_PRIVATE_KEY, "--workdir", book_env.work)
    with reverted(book_env.chain):
        deployed = run_cli("deploy", "digits", "--json", *common)
        assert deployed.code == 0, deployed.stderr
        document = json.loads(deployed.stdout)
        assert (document["consumer"], document["contract"], document["registry"]) == ("digits", "DigitLabels", "none")
        submitted = run_cli("submit", "digits", "--input", held_out_image(tmp_path, 4), "--json", *common)
        assert submitted.code == 0, submitted.stderr
        assert json.loads(submitted.stdout)["digit"] in range(10)
        missing = run_cli("submit", "digits", *common)
        assert_clean_error(missing, "--input IMAGE")
        listed = run_cli("consumers", "--json")
        assert {row["name"] for row in json.loads(listed.stdout)} >= {"fee", "digits"}


@pytest.mark.slow
def test_mock_verifier_only_on_a_dev_chain(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mock accepts any proof: the CLI deploys it to a local anvil, whatever its chain id
    (`prover node --chain-id 4242` too), and refuses a node that is not a dev chain."""
    work = tmp_path / "work"
    shutil.copytree(built / "circuits" / "digits", work / "circuits" / "digits")
    local = run_cli("deploy", "digits", "--mock-verifier", "--json", "--workdir", work)
    assert local.code == 0, local.stderr
    assert json.loads(local.stdout)["mock_verifier"] is True
    with AnvilNode(tmp_path / "anvil.log", chain_id=4242) as other:
        common = ("--rpc-url", other.rpc_url, "--private-key", DEV_PRIVATE_KEY, "--workdir", work)
        accepted = run_cli("deploy", "digits", "--mock-verifier", "--json", *common)
        assert accepted.code == 0, accepted.stderr
        # the same node claiming to be geth is no dev chain: refused before any transaction
        from prover.evm import node as node_module
        from prover.evm import verifier as verifier_module
        from prover.evm.client import connect
        from prover.proving.circuit import open_circuit

        monkeypatch.setattr(node_module, "client_version", lambda _w3: "Geth/v1.14.0-stable")
        with connect(other.rpc_url, DEV_PRIVATE_KEY) as chain:
            block = chain.w3.eth.block_number
            with pytest.raises(ChainError, match="refusing to deploy the mock verifier to chain 4242"):
                verifier_module.deploy_mock_verifier(chain, open_circuit("digits", work))
            assert chain.w3.eth.block_number == block


@pytest.mark.slow
def test_fee_pool_takes_no_input_file(built: Path, tmp_path: Path) -> None:
    """Each consumer says what it needs: the pool proves over its own prices only."""
    work = tmp_path / "work"
    shutil.copytree(built / "circuits" / "fee", work / "circuits" / "fee")
    image = held_out_image(tmp_path, 0)
    with AnvilNode(tmp_path / "anvil.log") as node:
        common = ("--rpc-url", node.rpc_url, "--private-key", DEV_PRIVATE_KEY, "--workdir", work)
        deployed = run_cli("deploy", "fee", *common)
        assert deployed.code == 0, deployed.stderr
        refused = run_cli("submit", "fee", "--input", image, *common)
    assert_clean_error(refused, "takes no --input")


@pytest.mark.slow
def test_cli_demo_of_the_label_book(built: Path, tmp_path: Path) -> None:
    """`prover demo digits`: label three held-out images, then the relabel is refused by name."""
    demo = tmp_path / "demo"
    shutil.copytree(built / "circuits" / "digits", demo / "circuits" / "digits")  # the build is then cached
    result = run_cli("demo", "digits", "--json", "--workdir", demo)
    assert result.code == 0, result.stderr
    document = json.loads(result.stdout)
    floats = run_onnx(demo / "circuits" / "digits" / "network.onnx", [get_model("digits").heldout_set()[:3]])
    assert [label["digit"] for label in document["labels"]] == [int(d) for d in np.argmax(floats, axis=1)]
    assert document["relabel"] == "refused: AlreadyLabelled"
