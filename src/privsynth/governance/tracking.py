"""Optional MLflow logging: a model's parameters, an evaluation's figures, the report and the model file,
for teams that track experiments in MLflow. MLflow is an optional dependency (`pip install mlflow-skinny`).

The run is tagged with the privsynth ids (`privsynth.id`, `privsynth.parents`) so an MLflow run can be traced
back to the catalog. A client with an explicit tracking URI is used, never MLflow's global state. MLflow 3
refuses a local file store (`file:...`) unless MLFLOW_ALLOW_FILE_STORE=true; a sqlite:/// URI needs nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from privsynth.errors import InputError


def _flat(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif value is not None:
        out[prefix] = str(value)[:500]


def log_to_mlflow(
    model=None,
    *,
    evaluation=None,
    files: list[str | os.PathLike] = (),
    tracking_uri: str | None = None,
    experiment: str = "privsynth",
    run_name: str | None = None,
) -> str:
    """Log to MLflow and return the run id. `model` is a Model or a model file path (its manifest's engine,
    parameters, seed, privacy and source size become params; a path is also logged as an artifact);
    `evaluation` an Evaluation (its headline figures become metrics); `files` extra artifacts (reports).
    `tracking_uri` defaults to $MLFLOW_TRACKING_URI, then MLflow's own default."""
    try:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
    except ImportError:
        raise InputError("MLflow logging needs MLflow: pip install mlflow-skinny (or mlflow)") from None
    import privsynth as ps

    paths = [Path(f) for f in files]
    manifest = None
    if model is not None:
        if isinstance(model, str | os.PathLike):
            paths.insert(0, Path(model))
            model = ps.load(model)
        manifest = model.manifest
    for path in paths:
        if not path.is_file():
            raise InputError(f"file to log not found: {path}")
    params: dict[str, str] = {}
    tags = {"privsynth.version": ps.__version__}
    if manifest is not None:
        _flat("engine", manifest["engine"], params)
        params["seed"] = str(manifest["seed"])
        _flat("privacy", {k: v for k, v in manifest["privacy"].items() if k not in ("spends", "ledger")}, params)
        _flat("source", {k: v for k, v in manifest["source"].items() if k != "sha256"}, params)
        tags.update({"privsynth.id": manifest["id"], "privsynth.kind": "model"})
        tags["privsynth.parents"] = ",".join(p["id"] for p in manifest.get("parents", []))
    metrics = {}
    if evaluation is not None:
        metrics = {k: float(v) for k, v in evaluation.headline().items() if isinstance(v, int | float)}
    try:
        client = MlflowClient(tracking_uri=tracking_uri or os.environ.get("MLFLOW_TRACKING_URI"))
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        run = client.create_run(experiment_id, run_name=run_name, tags=tags)
        run_id = run.info.run_id
        for key, value in params.items():
            client.log_param(run_id, key, value)
        for key, value in metrics.items():
            client.log_metric(run_id, key, value)
        for path in paths:
            client.log_artifact(run_id, str(path))
        client.set_terminated(run_id)
    except MlflowException as exc:
        raise InputError(f"MLflow refused the run: {str(exc).splitlines()[0]}") from None
    return run_id
