"""Model cards and datasheets, generated from an artifact's manifest and its latest recorded evaluation.

Sections follow the model-card / datasheet practice: purpose and intended use, source, method, privacy
guarantee and attack results, fidelity and utility, known limitations. Every figure comes from the manifest
or the catalog; a missing evaluation is said, not filled in.
"""

from __future__ import annotations

import os
from pathlib import Path

from privsynth.errors import InputError
from privsynth.governance.manifest import NO_GUARANTEE

ATTACKS = {
    "dcr_share": "DCR share (0.5 = no closer to training than to unseen rows)",
    "exact_match_train": "exact copies of training rows",
    "exact_match_holdout": "exact matches of unseen holdout rows (chance level)",
    "exact_match_excess_z": "exact copies beyond chance, in sampling sds (above 2: more than chance)",
    "mia_auc_max": "membership inference, best ROC AUC (0.5 = none)",
    "singling_out_risk": "singling-out risk (anonymeter)",
    "linkability_risk": "linkability risk (anonymeter)",
    "anonymeter_risk_max": "largest anonymeter risk (singling out, linkability, inference)",
}
FIDELITY = {
    "accuracy_overall": "overall accuracy (1 - TVD)",
    "accuracy_univariate": "univariate accuracy",
    "accuracy_bivariate": "bivariate accuracy",
    "holdout_accuracy_overall": "holdout's own accuracy (the ceiling)",
    "detection_auc": "real-vs-synthetic detection AUC (0.5 = indistinguishable)",
    "association_difference": "mean difference of association matrices",
}
UTILITY = {
    "utility_tstr": "model trained on synthetic, tested on real holdout",
    "utility_trtr": "the same model trained on real data (reference)",
    "utility_gap": "utility gap (TRTR - TSTR; positive = the synthetic-trained model is worse)",
}


def _rows(labels: dict[str, str], headline: dict, evaluation: dict | None) -> list[tuple[str, float, str]]:
    """(label with its better direction, value, how to read it) for the headline figures recorded: the
    utility score named, an anonymeter risk with its interval and the control rate it is judged against."""
    from privsynth.evaluate.report import HEADLINES, risk_text

    metric = (evaluation or {}).get("utility_metric")
    anonymeter = (evaluation or {}).get("anonymeter") or {}
    rows = []
    for key, label in labels.items():
        if key not in headline:
            continue
        better = HEADLINES[key][2]
        if key in ("utility_tstr", "utility_trtr", "utility_gap") and metric:
            label = f"{label}, in {metric}"
        note = risk_text(anonymeter[key]) if key in anonymeter else ""
        rows.append((f"{label} ({better} is better)", headline[key], note))
    return rows


def _name_of(manifest: dict, name: str | None, source: dict | None) -> str:
    """What a reader calls the subject: the file it was written to, else its source's file, else its id."""
    if name:
        return name
    if source and source.get("location"):
        return f"{manifest.get('kind', 'dataset')} of {Path(str(source['location'])).name}"
    return manifest["id"]


def card_context(
    manifest: dict,
    catalog=None,
    model=None,
    purpose: str | None = None,
    intended_use: str | None = None,
    name: str | None = None,
):
    """Everything the card shows, as plain values (the templates only lay it out). `name` is what readers
    call the subject (its file's name); the title is that name and the purpose, never an opaque id."""
    from privsynth.evaluate.gate import verdict

    kind = manifest.get("kind", "dataset")
    evaluation = None
    source = None
    if catalog is not None:
        evaluations = catalog.evaluations(manifest["id"])
        evaluation = evaluations[0] if evaluations else None
        for parent, role in catalog.parents(manifest["id"]):
            if role == "source":
                source = catalog.known(parent)
    privacy = manifest.get("privacy") or {"guarantee": NO_GUARANTEE}
    formal = privacy.get("mechanism", "none") not in ("none", None)
    headline = (evaluation or {}).get("headline", {})
    limitations = _limitations(manifest, model, formal, evaluation)
    default_use = (
        "Sharing and model development under the stated differential-privacy guarantee."
        if formal
        else "Internal model development and testing. There is no formal privacy guarantee: review the attack "
        "results below (and your own policy) before sharing outside the team."
    )
    subject = _name_of(manifest, name, source)
    short = purpose or (
        "a model of a sensitive table, to generate synthetic twins of it"
        if kind == "model"
        else "a privacy-protected synthetic twin of a sensitive table"
    )
    if evaluation is None:
        judged = "not judged: no evaluation is recorded in the catalog (run privsynth evaluate with --holdout)"
    else:
        judged = verdict(evaluation.get("gates") or [], evaluation.get("policy", "default"))
    return {
        "title": f"{subject}: {short}",
        "card_kind": "Model card" if kind == "model" else "Datasheet",
        "verdict": judged,
        "verdict_passed": judged.startswith("safe to share"),
        "kind": kind,
        "manifest": manifest,
        "purpose": purpose
        or "A privacy-protected synthetic twin of a sensitive table, for training and testing models without "
        "access to the real records.",
        "intended_use": intended_use or default_use,
        "source": source,
        "content": manifest.get("content") or manifest.get("source") or {},
        "engine": manifest.get("engine") or {},
        "operation": manifest.get("operation") or {},
        "privacy": privacy,
        "formal": formal,
        "attacks": _rows(ATTACKS, headline, evaluation),
        "fidelity": _rows(FIDELITY, headline, evaluation),
        "utility": _rows(UTILITY, headline, evaluation),
        "gates": (evaluation or {}).get("gates", []),
        "evaluation": evaluation,
        "limitations": limitations,
        "versions": manifest.get("versions") or {},
    }


def _limitations(manifest: dict, model, formal: bool, evaluation) -> list[str]:
    from privsynth.schema import treatments

    out = []
    if evaluation is None:
        out.append("No evaluation is recorded in the catalog: fidelity, utility and attack figures are missing.")
    threshold = manifest.get("rare_category_threshold") or (
        model.manifest.get("rare_category_threshold") if model else None
    )
    if threshold:
        out.append(
            f"Categories seen in fewer than {threshold} rows are merged or not reproduced (rare-category "
            "protection); rare groups are under-represented."
        )
    if model is not None:
        out += [f"Column {line}." for line in treatments(model.schema)]
        for rule in model.schema.constraints:
            out.append(f"Constraint applied to every row ({rule.type}): {rule.describe()}.")
    if formal:
        out.append("Differential privacy adds noise: small groups and rare combinations are the least accurate.")
    else:
        out.append(
            "No formal privacy guarantee: privacy was measured by attacks, which bound what those attacks "
            "find, not what every attacker could."
        )
    params = (manifest.get("operation") or {}).get("params") or {}
    if params.get("conditions") or params.get("rebalance") or params.get("fair"):
        out.append(
            "Sampled with conditions, rebalancing or fairness targets: its distribution differs from the "
            "source's on purpose, so fidelity figures against the source are lower by design."
        )
    if manifest.get("kind") == "augmented":
        out.append("Mixes real and synthetic rows (see the tag column): it is not a synthetic-only table.")
    if manifest.get("kind") == "perturbed" and not manifest.get("synthetic"):
        out.append("Made from real rows (perturbed, not synthetic): handle it as the source data.")
    return out


def render(context: dict, fmt: str) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(["html.j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["figure"] = lambda v: "not computed" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)
    env.filters["params"] = lambda p: ", ".join(f"{k}={_shown(v)}" for k, v in (p or {}).items() if v is not None)
    return env.get_template(f"card.{fmt}.j2").render(**context)


def _shown(value) -> str:
    """A recorded parameter as a reader would write it (ranges as bounds)."""
    if isinstance(value, dict) and "range" in value:
        r = value["range"]
        low = "" if r["low"] is None else f"{r['low']}{'<' if r['low_strict'] else '<='}"
        high = "" if r["high"] is None else f"{'<' if r['high_strict'] else '<='}{r['high']}"
        return f"{low}x{high}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    return str(value)


def write_card(context: dict, output: str | os.PathLike) -> Path:
    from privsynth.io import write_bytes_atomic

    suffix = Path(output).suffix.lower()
    fmt = {".html": "html", ".htm": "html", ".md": "md"}.get(suffix)
    if fmt is None:
        raise InputError(f"a card is written as .html or .md, not {suffix or 'no suffix'!r}")
    text = render(context, fmt)
    return write_bytes_atomic(output, lambda fh: fh.write(text.encode()))
