"""`--backend ray` refuses what it cannot do with one line and exit 2, before Ray starts:
Ray not installed (the extra is named), an address where nothing listens or that is not
one, options that belong to the other backend. No Ray instance is started here, so these
run anywhere (the cluster itself is test_cluster.py's).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CliResult, assert_clean_error, run_cli
from test_prove_batch import fee_inputs


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    fee_inputs(folder, 2)
    return folder


def batch(built: Path, inputs: Path, *extra: str, env: dict[str, str] | None = None) -> CliResult:
    out = inputs.parent / "proofs"
    return run_cli("prove-batch", "fee", "--inputs", inputs, "--out", out, "--workdir", built, *extra, env=env)


@pytest.fixture
def without_ray(tmp_path: Path) -> dict[str, str]:
    """An environment where `import ray` fails as it does without the extra: a package of
    that name first on the path that raises ImportError."""
    shadow = tmp_path / "no-ray" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    return {"PYTHONPATH": str(shadow.parent)}


def test_without_the_extra_prove_batch_names_it(built: Path, inputs: Path, without_ray: dict[str, str]) -> None:
    result = batch(built, inputs, "--backend", "ray", env=without_ray)
    assert_clean_error(result, "needs Ray", "zkml-prover[cluster]")
    assert not (inputs.parent / "proofs").exists()


def test_without_the_extra_serve_names_it_before_touching_the_chain(without_ray: dict[str, str]) -> None:
    result = run_cli("serve", "fee", "--backend", "ray", "--rpc-url", "http://127.0.0.1:1", env=without_ray)
    assert_clean_error(result, "needs Ray", "zkml-prover[cluster]")


def test_the_pool_still_works_without_the_extra(built: Path, inputs: Path, without_ray: dict[str, str]) -> None:
    result = batch(built, inputs, "--workers", "1", env=without_ray)
    assert result.code == 0, result.stderr


@pytest.mark.parametrize(
    ("address", "fragment"),
    [("127.0.0.1:1", "nothing answers at --ray-address 127.0.0.1:1"), ("nonsense", "is not HOST:PORT")],
)
def test_a_bad_address_is_refused_at_once(built: Path, inputs: Path, address: str, fragment: str) -> None:
    """Ray's own connect would retry for many minutes."""
    result = batch(built, inputs, "--backend", "ray", "--ray-address", address)
    assert_clean_error(result, fragment)


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (("--ray-address", "127.0.0.1:6379"), "--ray-address is for --backend ray"),
        (("--backend", "ray", "--memory-limit", "1G"), "--memory-limit sizes the local pool"),
        (("--backend", "ray", "--workers", "0"), "--workers must be at least 1"),
    ],
)
def test_options_of_the_other_backend_are_refused(
    built: Path, inputs: Path, extra: tuple[str, ...], fragment: str
) -> None:
    result = batch(built, inputs, *extra)
    assert_clean_error(result, fragment)


def test_serve_refuses_a_ray_address_without_ray() -> None:
    result = run_cli("serve", "fee", "--ray-address", "127.0.0.1:6379", "--rpc-url", "http://127.0.0.1:1")
    assert_clean_error(result, "--ray-address is for --backend ray")


def test_ray_address_in_the_environment_does_not_stop_the_pool(built: Path, inputs: Path) -> None:
    """Ray sets RAY_ADDRESS for a job's entrypoint: only `--backend ray` reads it."""
    result = batch(built, inputs, "--workers", "1", env={"RAY_ADDRESS": "127.0.0.1:6379"})
    assert result.code == 0, result.stderr


def test_ray_address_in_the_environment_is_the_ray_backends_default(built: Path, inputs: Path) -> None:
    result = batch(built, inputs, "--backend", "ray", env={"RAY_ADDRESS": "127.0.0.1:1"})
    assert_clean_error(result, "nothing answers at --ray-address 127.0.0.1:1")
