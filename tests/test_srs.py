"""SRS handling: dev SRS cached and announced, supplied files checked before use."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from conftest import assert_clean_error, manifest_of, run_cli

from prover.errors import SrsError
from prover.pipeline import srs as srs_module
from prover.pipeline.builds import build_reference
from prover.pipeline.srs import DEV_SRS_WARNING, dev_srs, srs_logrows, supplied_srs
from prover.progress import SilentReporter


def test_dev_srs_is_generated_once_per_logrows() -> None:
    """Keys depend on the SRS, so the cached one must be reused, not regenerated."""
    first, second = dev_srs(9), dev_srs(9)
    assert first.sha256 == second.sha256 and first.kind == "dev"
    assert srs_logrows(Path(first.path)) == 9


def test_dev_srs_use_is_announced_and_recorded(built: Path) -> None:
    """A dev SRS is insecure: the manifest records its kind and hash."""
    record = manifest_of(built, "fee").srs
    assert record is not None and record.kind == "dev"
    assert hashlib.sha256(Path(record.path).read_bytes()).hexdigest() == record.sha256


def test_supplied_srs_must_match_public_hash(tmp_path: Path) -> None:
    """A file posing as the public kzg11.srs but with other bytes is refused."""
    fake = Path(dev_srs(11).path)
    with pytest.raises(SrsError, match="sha256"):
        supplied_srs(fake, 11)


def test_supplied_srs_too_small_is_refused() -> None:
    with pytest.raises(SrsError, match="needs logrows 12"):
        supplied_srs(Path(dev_srs(9).path), 12)


def test_non_srs_file_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.srs"
    junk.write_bytes(b"\xff\xff\xff\xff not an srs")
    with pytest.raises(SrsError, match="not a KZG SRS"):
        supplied_srs(junk, 11)


def test_build_with_supplied_srs_of_unknown_size(workdir_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A supplied SRS larger than needed is used as is, hashed and marked 'supplied'."""
    bigger = Path(dev_srs(12).path)
    table = dict(srs_module.PUBLIC_SRS_SHA256)
    table.pop(12)
    monkeypatch.setattr(srs_module, "PUBLIC_SRS_SHA256", table)
    reporter = SilentReporter()
    manifest = build_reference("fee", workdir_copy, srs=bigger, reporter=reporter)
    assert manifest.srs is not None and manifest.srs.kind == "supplied"
    assert manifest.srs.known_public is False and manifest.srs.logrows == 12
    assert dict(reporter.events)["setup"] == "done"  # new SRS -> new keys
    assert DEV_SRS_WARNING not in reporter.warnings


def test_cli_rejects_tampered_srs(workdir_copy: Path) -> None:
    fake = Path(dev_srs(11).path)
    result = run_cli("build", "fee", "--workdir", workdir_copy, "--srs", fake)
    assert_clean_error(result, "sha256")
