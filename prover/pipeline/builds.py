"""`build`: every stage in order, each rerun only when the hashes of its inputs changed.

A stage's identity is the fingerprint of what it consumes (file hashes, the config,
the ezkl version). If the manifest holds the same fingerprint and the stage's outputs
are still on disk with their recorded hashes, the stage is skipped. The manifest is
saved after every stage, so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

from models import REFERENCE_MODELS, get_model
from models.base import ReferenceModel
from prover import ezkl_api
from prover.artifacts import (
    CircuitPaths,
    FileRecord,
    Manifest,
    StageRecord,
    build_lock,
    circuit_paths,
    load_manifest,
    readable_manifest,
    save_manifest,
    sha256_file,
    sha256_json,
    write_json_atomic,
)
from prover.config import MAX_BATCH, CircuitConfig, checked_config
from prover.datasets import batched, check_finite, check_kinds, load_dataset, to_input_json
from prover.errors import ProverError, SettingsError, UnknownModelError
from prover.pipeline.bounds import Decision, accuracy_bounds
from prover.pipeline.compile import compile_circuit, setup_keys
from prover.pipeline.export import (
    OPSET,
    OnnxSignature,
    export_torch,
    inspect_onnx,
    run_onnx,
)
from prover.pipeline.fidelity import measure_fidelity, per_inference
from prover.pipeline.search import TuningData
from prover.pipeline.settings import make_settings, read_info
from prover.pipeline.srs import DEV_SRS_WARNING, dev_srs, supplied_srs
from prover.pipeline.tuner import TUNER_VERSION, TuningFailed
from prover.pipeline.user_model import UserModel, check_batch_axis, import_user_model, user_decision
from prover.progress import Reporter, SilentReporter, timed_stage
from prover.provenance import ProvenanceTracker, write_training_data
from prover.proving.circuit import Circuit, open_circuit


class _Stages:
    """Runs stages against one manifest; knows how to skip a stage whose inputs are unchanged."""

    def __init__(self, paths: CircuitPaths, manifest: Manifest, reporter: Reporter) -> None:
        self.paths, self.manifest, self.reporter = paths, manifest, reporter

    def run(self, stage: str, inputs: dict[str, str], outputs: dict[str, Path], body: Callable[[], None]) -> bool:
        """Run `body` unless cached; record outputs; True if it ran."""
        with timed_stage(self.reporter, stage) as outcome:
            if self._is_current(stage, inputs):
                outcome.status = "cached"
                return False
            start = time.perf_counter()
            body()
            record = StageRecord(inputs=inputs, seconds=round(time.perf_counter() - start, 3))
            for key, path in outputs.items():
                record.outputs[key] = FileRecord.of(path, self.paths.root)
                self.manifest.files[key] = record.outputs[key]
            self.manifest.stages[stage] = record
            save_manifest(self.paths, self.manifest)
            return True

    def _is_current(self, stage: str, inputs: dict[str, str]) -> bool:
        record = self.manifest.stages.get(stage)
        if record is None or record.inputs != inputs:
            return False
        for item in record.outputs.values():
            path = self.paths.root / item.path
            if not path.exists() or path.stat().st_size != item.bytes or sha256_file(path) != item.sha256:
                return False
        return True

    def digest(self, key: str) -> str:
        return self.manifest.files[key].sha256


def _fresh_manifest(paths: CircuitPaths, source: str, config: CircuitConfig) -> Manifest:
    """Keep stage records of an earlier build (for caching); take the new config.

    A manifest this version cannot read (older schema, damaged) just means no cache.
    """
    old = readable_manifest(paths)
    if old is not None and old.source == source:
        return old.model_copy(update={"config": config, "ezkl_version": ezkl_api.EZKL_VERSION})
    return Manifest(name=paths.name, source=source, ezkl_version=ezkl_api.EZKL_VERSION, config=config)


def build_reference(
    name: str,
    workdir: Path,
    *,
    overrides: dict[str, object] | None = None,
    srs: Path | None = None,
    reporter: Reporter | None = None,
    circuit_name: str | None = None,
    batch: int = 1,
) -> Manifest:
    """Train, export and build one of the reference models under `workdir/circuits/name`.

    `circuit_name` builds it under another name (the benchmark's baseline beside the tuned
    one, the variants of `prover compare`). `batch` > 1 exports a graph that takes that
    many inputs at once, so one proof covers `batch` inferences; calibration, held-out
    data and decisions are then grouped and judged per inference.
    """
    if not 1 <= batch <= MAX_BATCH:
        raise SettingsError(f"batch size {batch} is out of range", hint=f"use 1 to {MAX_BATCH}")
    try:
        model = get_model(name)
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}") from None
    config = checked_config(model.circuit, overrides or {})
    if config.decision is not None:  # it would be recorded, then ignored for the model's own rule
        raise SettingsError(
            f"reference model {name!r} decides by its own rule ({model.decision_name}); --decision is "
            "for a model built from your ONNX",
            hint=f"leave --decision out for {name!r}",
        )
    paths = circuit_paths(workdir, circuit_name or name)
    with build_lock(paths, on_wait=reporter.warn if reporter else None):  # else a logged warning
        stages = _Stages(paths, _fresh_manifest(paths, "reference", config), reporter or SilentReporter())
        stages.manifest.batch = batch
        stages.manifest.model = name
        source_hash = sha256_file(Path(inspect.getfile(type(model))))
        fingerprint = {
            "model_source": source_hash,
            "seed": str(model.seed),
            "torch": torch.__version__,
            "opset": str(OPSET),
        }
        if batch != 1:
            fingerprint["batch"] = str(batch)  # absent for 1, so existing builds stay cached
        fingerprint["lineage"] = "1"  # builds made before lineage.json rerun the export once to get it
        outputs = {
            "onnx": paths.onnx,
            "calibration": paths.calibration,
            "heldout": paths.heldout,
            "training_data": paths.training_data,
            "lineage": paths.lineage,
        }
        stages.run("export", fingerprint, outputs, lambda: _export_reference(model, paths, batch))
        decide = per_inference(model.decisions, batch)
        assert decide is not None
        return _build_circuit(stages, config, srs, lambda _signature: Decision(model.decision_name, decide))


def _export_reference(model: ReferenceModel, paths: CircuitPaths, batch: int) -> None:
    """Train under a provenance tracker, export, and write the lineage that links the
    training data file, the minibatch stream, the final weights and the ONNX file."""
    paths.root.mkdir(parents=True, exist_ok=True)
    calibration, heldout = batched(model.calibration_set(), batch), batched(model.heldout_set(), batch)
    inputs, targets = model.training_tensors()
    write_training_data(paths.training_data, {"x": inputs, "y": targets})
    with ProvenanceTracker(model.name, seeds={"model": model.seed}) as run:
        run.record_training_data(paths.training_data)
        trained = model.train()
    export_torch(trained, calibration[0], paths.onnx, parity=heldout[:32])
    run.record_onnx(paths.onnx)
    run.write(paths.lineage)
    write_json_atomic(paths.calibration, to_input_json([calibration]))
    write_json_atomic(paths.heldout, to_input_json([heldout]))


def build_onnx(
    name: str,
    workdir: Path,
    user: UserModel,
    config: CircuitConfig,
    *,
    srs: Path | None = None,
    reporter: Reporter | None = None,
    batch: int = 1,
) -> Manifest:
    """Build a circuit for a user's ONNX model with their calibration data.

    `batch` > 1 makes one proof cover `batch` inferences (the market's batch fulfilment):
    a graph with a dynamic batch axis gets it fixed to `batch`, and its data (one sample
    per row) is grouped `batch` rows per run; a graph exported with a fixed batch axis of
    that size is taken as it is, with its data already grouped.
    """
    paths = circuit_paths(workdir, name)
    signature = inspect_onnx(user.onnx)  # fail before anything is written
    regroup = check_batch_axis(signature, batch)
    for data in (user.calibration, user.heldout):
        if data is not None:
            dataset = load_dataset(data, signature.input_shapes)
            check_finite(dataset, str(data))
            check_kinds(dataset, signature.input_types, str(data), signature.input_names)
    if config.decision is not None:
        user_decision(signature, config.decision)  # a bad --decision fails before anything is built
    with build_lock(paths, on_wait=reporter.warn if reporter else None):  # else a logged warning
        stages = _Stages(paths, _fresh_manifest(paths, "onnx", config), reporter or SilentReporter())
        stages.manifest.batch = batch
        fingerprint = {"onnx": sha256_file(user.onnx), "calibration": sha256_file(user.calibration)}
        if batch != 1:
            fingerprint["batch"] = str(batch)  # absent for 1, so existing builds stay cached
        outputs = {"onnx": paths.onnx, "calibration": paths.calibration}
        if user.heldout is not None:
            fingerprint["heldout"] = sha256_file(user.heldout)
            outputs["heldout"] = paths.heldout
        stages.run(
            "import", fingerprint, outputs, lambda: import_user_model(user, paths, batch if regroup else 1, signature)
        )
        if user.heldout is None:
            stages.manifest.files.pop("heldout", None)
        return _build_circuit(
            stages, config, srs, lambda graph: user_decision(graph, config.decision) if config.decision else None
        )


def _build_circuit(
    stages: _Stages,
    config: CircuitConfig,
    srs: Path | None,
    decision_for: Callable[[OnnxSignature], Decision | None],
) -> Manifest:
    paths, manifest, reporter = stages.paths, stages.manifest, stages.reporter
    signature = inspect_onnx(paths.onnx)
    if signature.fixed_axes:
        fixed = ", ".join(repr(axis) for axis in signature.fixed_axes)
        reporter.warn(f"dynamic axis {fixed} fixed to 1 for the circuit: each proof is of one sample")
    decision = decision_for(signature)
    calibration = load_dataset(paths.calibration, signature.input_shapes)
    heldout_key = "heldout" if "heldout" in manifest.files else "calibration"
    heldout = load_dataset(paths.root / manifest.files[heldout_key].path, signature.input_shapes)
    settings_inputs = {
        "onnx": stages.digest("onnx"),
        "calibration": stages.digest("calibration"),
        "config": sha256_json(json.loads(config.model_dump_json())),
        "ezkl": ezkl_api.EZKL_VERSION,
        "form": ezkl_api.SETTINGS_FORM,
    }
    if config.settings == "tuned":
        settings_inputs["heldout"] = stages.digest(heldout_key)
        settings_inputs["tuner"] = TUNER_VERSION

    def settings() -> None:
        try:
            manifest.tuning = make_settings(paths, config, TuningData(calibration, heldout, decision), reporter)
        except TuningFailed as exc:
            manifest.tuning = exc.report  # what was tried stays readable: `prover tune NAME --explain`
            save_manifest(paths, manifest)
            raise

    stages.run("settings", settings_inputs, {"settings": paths.settings}, settings)
    if config.settings != "tuned":
        manifest.tuning = None
    chosen = manifest.tuning.chosen if manifest.tuning else None
    margin = chosen.lookup_safety_margin if chosen else config.lookup_safety_margin
    manifest.info = read_info(paths.settings, signature, calibration, margin)
    compile_inputs = {"onnx": stages.digest("onnx"), "settings": stages.digest("settings")}
    stages.run("compile", compile_inputs, {"compiled": paths.compiled}, lambda: compile_circuit(paths))

    bounds_config = {key: getattr(config, key) for key in ("max_error", "max_rel_error", "decision", "min_agreement")}
    fidelity_inputs = {
        "compiled": stages.digest("compiled"),
        "data": stages.digest(heldout_key),
        "calibration": stages.digest("calibration"),
        "bounds": sha256_json(bounds_config),
    }
    info = manifest.info

    def fidelity() -> None:
        outputs = [run_onnx(paths.onnx, calibration), run_onnx(paths.onnx, heldout)]
        bounds = accuracy_bounds(signature, config, decision, outputs)
        manifest.fidelity = measure_fidelity(paths, heldout, heldout_key, info.output_scales, bounds)

    stages.run("fidelity", fidelity_inputs, {}, fidelity)

    with timed_stage(reporter, "srs", f"logrows {manifest.info.logrows}") as outcome:
        record = supplied_srs(srs, manifest.info.logrows) if srs else dev_srs(manifest.info.logrows)
        outcome.detail = f"{record.kind}, k={record.logrows}"
        if manifest.srs == record:
            outcome.status = "cached"  # the same file the keys were made with
    if record.kind == "dev":
        reporter.warn(DEV_SRS_WARNING)
    manifest.srs = record
    setup_inputs = {"compiled": stages.digest("compiled"), "srs": record.sha256}
    stages.run("setup", setup_inputs, {"vk": paths.vk, "pk": paths.pk}, lambda: setup_keys(paths, Path(record.path)))
    save_manifest(paths, manifest)
    return manifest


def build_model(
    name: str,
    workdir: Path,
    *,
    overrides: dict[str, object] | None = None,
    reporter: Reporter | None = None,
    circuit_name: str | None = None,
    batch: int = 1,
    srs: Path | None = None,
) -> Manifest:
    """A reference model by name, or a circuit already built from a user's ONNX, rebuilt
    with `overrides` on top of its recorded config (in place, or as `circuit_name`).

    A user's graph has its batch size fixed: `batch` only restates it (1 keeps it).
    """
    if name in REFERENCE_MODELS:
        return build_reference(
            name, workdir, overrides=overrides, srs=srs, reporter=reporter, circuit_name=circuit_name, batch=batch
        )
    paths = circuit_paths(workdir, name)
    manifest = load_manifest(paths, required=False)
    if manifest is None or manifest.source != "onnx":
        raise UnknownModelError(
            f"no reference model or circuit built from your ONNX named {name!r}",
            hint="see `prover models`, or build yours with `prover build --onnx`",
        )
    if batch not in (1, manifest.batch):  # 1 is the default: keep what the graph has
        raise SettingsError(
            f"{name!r} is your own ONNX model, whose batch size ({manifest.batch}) is fixed in its graph",
            hint="export it with the batch size you want and build that with --onnx ... --batch N",
        )
    heldout = paths.heldout if "heldout" in manifest.files else None
    user = UserModel(paths.onnx, paths.calibration, heldout)
    config = checked_config(manifest.config, overrides or {})
    return build_onnx(circuit_name or name, workdir, user, config, srs=srs, reporter=reporter, batch=manifest.batch)


def build(
    name: str,
    workdir: Path | str = ".",
    *,
    onnx: Path | None = None,
    data: Path | None = None,
    holdout: Path | None = None,
    overrides: dict[str, object] | None = None,
    srs: Path | None = None,
    reporter: Reporter | None = None,
    batch: int = 1,
    circuit_name: str | None = None,
) -> Circuit:
    """Build (or find cached) circuit `name` and open it: the library's one build call.

    With `onnx` and calibration `data` (and optionally `holdout`), `name` is the circuit
    name for your model; without, `name` is a reference model, or a circuit already built
    from your ONNX (rebuilt with `overrides` on top of its recorded config).
    """
    workdir = Path(workdir)
    if onnx is not None:
        if data is None:
            raise ProverError("a model from ONNX needs calibration data", hint="pass data=calibration.json")
        config = checked_config(CircuitConfig(), overrides or {})
        manifest = build_onnx(
            name, workdir, UserModel(Path(onnx), Path(data), holdout), config, srs=srs, reporter=reporter, batch=batch
        )
    else:
        manifest = build_model(
            name, workdir, overrides=overrides, srs=srs, reporter=reporter, batch=batch, circuit_name=circuit_name
        )
    return open_circuit(manifest.name, workdir)
