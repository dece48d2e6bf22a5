"""Settings stage: explicit visibilities, then one of three ways to pick scales and layout.

"tuned" (default) runs the tuner (tuner.py); "manual" sizes exactly the layout in
the config (sizing.py); "ezkl-default" is plain gen_settings plus ezkl's
'resources' calibration, kept as the baseline the tuner is benchmarked against.
Whatever the strategy, only the final settings.json lands in the circuit folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from prover.artifacts import SCRATCH_PREFIX, CircuitInfo, CircuitPaths, TuningReport, atomic_path
from prover.config import CircuitConfig
from prover.datasets import Dataset, calibrated_range
from prover.errors import SettingsError
from prover.pipeline.export import OnnxSignature, inspect_onnx
from prover.pipeline.finalists import ezkl_settings, layout_of
from prover.pipeline.search import TuningData
from prover.pipeline.sizing import candidate_paths, size_layout, stress_set
from prover.pipeline.tuner import tune
from prover.progress import Reporter


def check_visibilities(config: CircuitConfig) -> None:
    """Refuse what would let a prover choose the model behind an on-chain verifier."""
    if config.onchain and config.param_visibility == "private":
        raise SettingsError(
            "params are 'private' but this circuit is meant for on-chain verification: "
            "the prover could pick any weights",
            hint="use --param-visibility fixed (or hashed), or --offchain",
        )


def make_settings(
    paths: CircuitPaths, config: CircuitConfig, data: TuningData, reporter: Reporter
) -> TuningReport | None:
    """Write settings.json by the config's strategy; the tuner's report when it tuned."""
    check_visibilities(config)
    if config.settings == "ezkl-default":
        _ezkl_default(paths, config)
        return None
    with tempfile.TemporaryDirectory(dir=paths.root, prefix=SCRATCH_PREFIX) as scratch:
        report = None
        if config.settings == "tuned":
            report, chosen = tune(paths, config, data, Path(scratch), reporter)
        else:
            chosen = candidate_paths(Path(scratch), "manual", paths)
            kinds = inspect_onnx(paths.onnx).input_types
            stress = stress_set(data.calibration, data.heldout, config.lookup_safety_margin, kinds, config.coverage)
            size_layout(chosen, config, config.manual_layout(), stress, config.max_logrows)
        with atomic_path(paths.settings) as tmp:
            shutil.copyfile(chosen.settings, tmp)
    return report


def _ezkl_default(paths: CircuitPaths, config: CircuitConfig) -> None:
    with atomic_path(paths.settings) as tmp:
        ezkl_settings(paths.onnx, paths.calibration, tmp, config, paths.log)


def read_info(settings: Path, signature: OnnxSignature, calibration: Dataset, margin: int) -> CircuitInfo:
    """Facts later stages need, read back from the settings ezkl uses (not from our config)."""
    document = json.loads(settings.read_text())
    run_args = document["run_args"]
    layout = layout_of(settings, margin)
    return CircuitInfo(
        logrows=run_args["logrows"],
        num_rows=document["num_rows"],
        layout=layout,
        input_scales=document["model_input_scales"],
        output_scales=document["model_output_scales"],
        param_scale=run_args["param_scale"],
        input_shapes=signature.input_shapes,
        output_shapes=signature.output_shapes,
        input_range=calibrated_range(calibration, margin, signature.input_types),
        input_names=signature.input_names,
        input_types=signature.input_types,
        output_names=signature.output_names,
        dynamic_axes=signature.fixed_axes,
    )


def visibilities(config: CircuitConfig) -> dict[str, str]:
    return {
        "input": config.input_visibility,
        "output": config.output_visibility,
        "params": config.param_visibility,
    }
