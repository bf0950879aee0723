"""Reading a training record (argn's: epochs run, why training stopped, the loss per epoch) as text, for the
command line, warnings and reports; no torch needed."""

from __future__ import annotations

import math

EPOCHS_TO_SUGGEST = 30  # enough for argn to converge on most tables measured (benchmarks/RESULTS.md)


def epochs_run(training: dict) -> float:
    """Epochs run, an epoch cut short by the time limit counted by the share of its rows that were seen."""
    return sum(entry.get("share", 1.0) for entry in training.get("history", []))


def time_note(training: dict) -> str | None:
    """What a user should read when training stopped on its time limit with the validation loss still
    falling (the model is undertrained): how long an epoch took and what to do; None otherwise."""
    if training.get("stopped_by") != "max_time" or not training.get("still_improving"):
        return None
    history, limit = training["history"], float(training["max_time"])
    run = epochs_run(training)
    per_epoch = float(training["seconds"]) / max(run, 1e-9)
    falling = f" ({history[-2]['val_loss']:.4f} -> {history[-1]['val_loss']:.4f})" if len(history) > 1 else ""
    suggest = max(math.ceil(per_epoch * EPOCHS_TO_SUGGEST / 10) * 10, math.ceil(2 * limit))
    return (
        f"argn stopped at its time limit ({limit:g} s) after {run:.3g} of {training['max_epochs']} epochs with the "
        f"validation loss still falling{falling}: the model is undertrained. At about {per_epoch:.2g} s per epoch "
        f"here, a limit of {suggest} s (--max-time {suggest}, or max_time={suggest}) allows about "
        f"{suggest / per_epoch:.0f} epochs; or fit the copula engine for a fast model."
    )


def summary(training: dict) -> str:
    """One line: epochs run, why training stopped, the best validation loss."""
    why = {
        "converged": "converged (the validation loss stopped falling)",
        "early stopping": "converged (the validation loss stopped falling)",  # model files before issue 21
        "max_epochs": "max_epochs reached",
        "epochs": "every planned epoch ran",  # DP-SGD
        "max_time": f"max_time ({training.get('max_time', '?')} s) reached",
    }.get(training.get("stopped_by"), str(training.get("stopped_by")))
    line = f"{epochs_run(training):.3g} of {training.get('max_epochs', '?')} epochs; stopped: {why}"
    if training.get("stopped_by") == "max_time" and "seconds" in training:
        line += f" after {training['seconds']:g} s" + ("; still improving" if training.get("still_improving") else "")
    if "best_val_loss" in training:
        line += f"; best validation loss {training['best_val_loss']:.4f}"
    return line


def curve(training: dict) -> list[tuple[str, str, str]]:
    """The loss curve as rows of (epoch, train loss, validation loss); an epoch cut short shows its share."""
    rows = []
    for entry in training.get("history", []):
        epoch = str(entry.get("epoch", len(rows) + 1))
        if "share" in entry:
            epoch += f" ({entry['share']:.0%})"
        train, val = entry.get("train_loss"), entry.get("val_loss")
        rows.append((epoch, "-" if train is None else f"{train:.4f}", "-" if val is None else f"{val:.4f}"))
    return rows
