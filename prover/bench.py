"""`prover bench`: ezkl's default calibration against the tuned circuit, side by side.

Both circuits are measured in one run, alternating which goes first each round so a
noisy, shared machine drifts on both equally. Each proof runs in a fresh child process
that imports only the proving path (no torch) and reports its own VmHWM: the peak RSS
of that address space alone (wait4's ru_maxrss would include the forked parent's pages). Ratios are baseline / tuned: above 1 means tuned is better.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models import get_model
from prover.artifacts import CircuitPaths, Manifest
from prover.compare import variant_circuit_name
from prover.measure import idle_child_rss, measurement_chain, prove_in_child, timed_setup, verifier_gas
from prover.pipeline import build_reference, open_circuit
from prover.progress import Reporter, timed_stage
from prover.proving import write_input
from prover.sizing import candidate_paths

TARGETS = {"prove_speedup": 10.0, "pk_shrink": 20.0, "agreement": 1.0}
GAS_TARGETS = {"fee": 350_000}
@dataclass
class Variant:
    label: str
    paths: CircuitPaths
    manifest: Manifest
    prove_s: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    setup_s: list[float] = field(default_factory=list)
    verify_gas: int | None = None

    def summary(self) -> dict[str, Any]:
        info, fidelity = self.manifest.info, self.manifest.fidelity
        assert info is not None and fidelity is not None
        return {
            "circuit": self.manifest.name,
            "settings": self.manifest.config.settings,
            "layout": info.layout.model_dump(),
            "logrows": info.logrows,
            "num_rows": info.num_rows,
            "prove_s": round(statistics.median(self.prove_s), 4),
            "prove_runs_s": [round(value, 4) for value in self.prove_s],
            "peak_rss_bytes": int(statistics.median(self.rss)),
            "setup_s": round(statistics.median(self.setup_s), 4),
            "pk_bytes": self.manifest.files["pk"].bytes,
            "vk_bytes": self.manifest.files["vk"].bytes,
            "verify_gas": self.verify_gas,
            "max_abs_error": fidelity.max_abs_error,
            "mean_abs_error": fidelity.mean_abs_error,
            "agreement": fidelity.agreement,
        }


def build_pair(name: str, workdir: Path, reporter: Reporter) -> tuple[Variant, Variant]:
    """The baseline (ezkl's gen_settings + calibrate 'resources') and the tuned circuit."""
    baseline_name = variant_circuit_name(name, "ezkl-default")  # the circuit `prover compare` shares
    build_reference(name, workdir, overrides={"settings": "ezkl-default"}, reporter=reporter,
                    circuit_name=baseline_name)
    build_reference(name, workdir, overrides={"settings": "tuned"}, reporter=reporter)
    baseline, tuned = open_circuit(baseline_name, workdir), open_circuit(name, workdir)
    return Variant("baseline", *baseline), Variant("tuned", *tuned)


def _setup_time(variant: Variant, scratch: Path) -> float:
    """Setup of a copy, so the built keys stay as they are."""
    assert variant.manifest.srs is not None
    copy = candidate_paths(scratch, f"setup-{variant.label}", variant.paths)
    copy.compiled.write_bytes(variant.paths.compiled.read_bytes())
    return timed_setup(copy, variant.manifest.srs)


def run_bench(name: str, workdir: Path, runs: int, reporter: Reporter) -> dict[str, Any]:
    model = get_model(name)
    variants = build_pair(name, workdir, reporter)
    with tempfile.TemporaryDirectory(prefix="prover-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        sample = scratch / "input.json"
        write_input(sample, [model.heldout_set()[:1]])
        idle_rss = idle_child_rss()
        for round_index in range(runs):
            order = variants if round_index % 2 == 0 else variants[::-1]
            for variant in order:
                with timed_stage(reporter, "bench", f"{variant.label} round {round_index + 1}/{runs}") as outcome:
                    proof = scratch / f"{variant.label}.proof.json"
                    measured = prove_in_child(variant.paths, sample, proof)
                    variant.prove_s.append(measured["prove_s"])
                    variant.rss.append(rss := measured["peak_rss_bytes"])
                    variant.setup_s.append(_setup_time(variant, scratch))
                    outcome.detail = f"prove {variant.prove_s[-1]:.3f}s, peak RSS {rss / 2**20:.0f} MiB"
        with timed_stage(reporter, "gas", "verifyProof on an embedded anvil"), measurement_chain() as chain:
            for variant in variants:
                assert variant.manifest.srs is not None
                folder = scratch / f"verifier-{variant.label}"
                folder.mkdir()
                variant.verify_gas = verifier_gas(chain, variant.paths, variant.manifest.srs,
                                                  scratch / f"{variant.label}.proof.json", folder).verify_gas
    return report(name, runs, idle_rss, *variants)


def report(name: str, runs: int, idle_rss: int, baseline: Variant, tuned: Variant) -> dict[str, Any]:
    base, best = baseline.summary(), tuned.summary()
    ratios = {key: round(base[key] / best[key], 2) for key in ("prove_s", "peak_rss_bytes", "pk_bytes", "setup_s",
                                                               "verify_gas", "logrows") if best[key]}
    targets = {
        "prove_speedup": {"target": TARGETS["prove_speedup"], "measured": ratios.get("prove_s")},
        "pk_shrink": {"target": TARGETS["pk_shrink"], "measured": ratios.get("pk_bytes")},
        "agreement": {"target": TARGETS["agreement"], "measured": best["agreement"]},
    }
    if name in GAS_TARGETS:
        targets["verify_gas"] = {"target": GAS_TARGETS[name], "measured": best["verify_gas"]}
    for key, entry in targets.items():
        measured = entry["measured"]
        entry["met"] = measured is not None and (measured <= entry["target"] if key == "verify_gas"
                                                 else measured >= entry["target"])
    return {"model": name, "runs": runs, "idle_child_rss_bytes": idle_rss, "baseline": base, "tuned": best,
            "ratios": ratios, "targets": targets}
