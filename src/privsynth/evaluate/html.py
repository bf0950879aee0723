"""The HTML report: one self-contained file (inline CSS, inline plotly.js, no network) with plots."""

from __future__ import annotations

import json

import jinja2
import numpy as np
import pandas as pd

from privsynth.evaluate.gate import verdict
from privsynth.evaluate.plots import column_bars
from privsynth.evaluate.report import UTILITY_METRIC, escape, utility_metric

MAX_COLUMN_PLOTS = 40


def _template() -> jinja2.Template:
    from importlib import resources

    text = resources.files("privsynth.evaluate").joinpath("templates/report.html.j2").read_text(encoding="utf-8")
    return jinja2.Template(text)


def _fmt(value) -> str:
    if value is None:
        return '<span class="nc">not computed</span>'
    if isinstance(value, float):
        return f"{value:.4f}"
    return escape(value)


def _fmt_or_blank(value) -> str:
    return "" if value is None else _fmt(value)


def _figure(fig, first: list[bool], height: int = 300) -> str:
    include = "inline" if first[0] else False
    first[0] = False
    fig.update_layout(margin={"l": 40, "r": 10, "t": 40, "b": 40}, height=height, template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=include, config={"displayModeBar": False})


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f"<td class='num'>{_fmt(v)}</td>" if not isinstance(v, str) else f"<td>{v}</td>" for v in row)
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _value(node, key: str):
    """node[key] when it is a number; None (shown as not computed) otherwise."""
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, int | float) else None


def _reason(node) -> str:
    return f'<p class="nc">not computed: {escape(node.get("reason", ""))}</p>'


def _guarantee(result: dict) -> str:
    statement = (result.get("guarantee") or {}).get("statement")
    return f"<p><b>Formal guarantee:</b> {escape(statement)}</p>" if statement else ""


EXCESS_NOTE = (
    "(training - holdout) over its sampling sd when nothing is copied, from the spread of several training "
    "samples: above 2, more matches with training rows than chance; not computed when training and holdout "
    "have the same size (nothing to draw)"
)


def _copying_table(figures: dict, unit: str, match_note: str, dcr_note: str, *extra: list) -> str:
    """The copying figures of a subset (`privacy.copying_figures`) as one table."""
    rows = [
        [f"exact match: training {unit}", figures["exact_match"]["train"], match_note],
        [f"exact match: holdout {unit}", figures["exact_match"]["holdout"], match_note],
        ["exact-match excess in sampling sds", figures["exact_match"].get("excess_z"), EXCESS_NOTE],
        ["DCR share", figures["dcr"]["share"], dcr_note],
        ["membership AUC (max)", figures["membership"]["max_auc"], "0.5 = no attack works"],
        *extra,
    ]
    return _table(["figure", "value", "meaning"], rows)


def privacy_section(privacy: dict, first: list[bool]) -> str:
    """Exact matches, DCR (with the two distributions), the attacks and anonymeter's risks."""
    import plotly.graph_objects as go

    if privacy.get("status") == "not computed":
        return _reason(privacy)
    exact, dcr, nndr = privacy["exact_match"], privacy["dcr"], privacy["nndr"]
    parts = [
        _table(
            ["figure", "value", "meaning"],
            [
                ["exact match: training rows", exact["train"], "share of synthetic rows identical to a training row"],
                ["exact match: holdout rows", exact["holdout"], "the same against unseen rows (chance duplicates)"],
                ["exact-match excess in sampling sds", exact.get("excess_z"), EXCESS_NOTE],
                ["DCR share", dcr["share"], "synthetic rows nearer a training row than a holdout row (0.5 ideal)"],
                ["DCR 5th percentile, train", dcr["train_p05"], "distance to the closest training row"],
                ["DCR 5th percentile, holdout", dcr["holdout_p05"], "distance to the closest holdout row"],
                ["NNDR median", nndr["median"], "nearest / second-nearest training distance (near 0: on one row)"],
            ],
        )
    ]
    histogram = dcr.get("histogram")
    if histogram:
        edges = np.asarray(histogram["edges"])
        mids = (edges[:-1] + edges[1:]) / 2
        fig = go.Figure(
            [
                go.Bar(name="to the closest training row", x=mids, y=histogram["train"], opacity=0.6),
                go.Bar(name="to the closest holdout row", x=mids, y=histogram["holdout"], opacity=0.6),
            ]
        )
        fig.update_layout(
            title="Distance of each synthetic row to its closest record",
            barmode="overlay",
            bargap=0,
            xaxis_title="distance (encoded space)",
            yaxis_title="synthetic rows",
        )
        parts.append(_figure(fig, first))
    attacks = [
        [escape(name), a.get("auc"), a.get("tpr_at_fpr_10"), a.get("tpr_at_fpr_01")]
        for name, a in privacy["membership"].items()
        if isinstance(a, dict) and "auc" in a
    ]
    parts.append("<h3>Membership inference</h3>")
    parts.append(_table(["attack", "ROC AUC (0.5 = none)", "TPR at 10% FPR", "TPR at 1% FPR"], attacks))
    risks = privacy.get("anonymeter", {})
    parts.append("<h3>anonymeter risks (training rows vs the holdout as control)</h3>")
    if risks.get("status") == "not computed":
        parts.append(_reason(risks))
    else:
        rows = []
        named = [("singling out", risks.get("singling_out")), ("linkability", risks.get("linkability"))]
        inference = risks.get("inference", {})
        if inference.get("status") != "not computed":
            named += [(f"inference of {secret}", r) for secret, r in inference.items()]
        for name, r in named:
            if r.get("status") == "not computed":
                rows.append([escape(name), None, escape(r.get("reason", "")), None, None])
            else:
                rows.append(
                    [
                        escape(name),
                        r["risk"],
                        f"{r['ci'][0]:.3f} - {r['ci'][1]:.3f}",
                        r["attack_rate"],
                        r["control_rate"],
                    ]
                )
        parts.append(
            '<p class="help">Each risk is judged against a control: the same attack on holdout rows the generator '
            "never saw. risk = (attack success - control success) / (1 - control success); read it with its 95% "
            "interval.</p>"
        )
        parts.append(
            _table(
                ["attack", "risk", "95% interval", "success on training rows", "control: success on holdout rows"],
                rows,
            )
        )
    focus = privacy.get("focus")
    if focus:
        parts.append(f"<h3>Rows with {escape(focus['column'])} = {escape(focus['value'])} only</h3>")
        if focus.get("status") == "not computed":
            parts.append(_reason(focus))
        else:
            parts.append(
                _copying_table(
                    focus,
                    "rows",
                    "within this class",
                    "0.5 ideal; above it, this class is copied",
                    ["rows compared", focus["dcr"]["rows_compared"], "training and holdout rows of the class"],
                )
            )
            compared = focus["dcr"]["rows_compared"]
            parts.append(
                f'<p class="help">With {compared:,} rows per side a DCR share has a standard error of about '
                f"{0.5 / np.sqrt(compared):.3f} (0.5 / sqrt(rows)): read small departures from 0.5 with that "
                "in mind.</p>"
            )
    if privacy.get("subsampled"):
        parts.append(f'<p class="help">{escape(privacy["subsampled"])}</p>')
    return "".join(parts)


# utility measures: (key in the result, name, True when higher is better)
MEASURES = {
    "classification": [("roc_auc", "ROC AUC", True), ("accuracy", "accuracy", True)],
    "regression": [("r2", "R2", True), ("mae", "MAE (mean absolute error)", False)],
}


def _cost(trtr: float | None, tstr: float | None, higher_better: bool) -> float | None:
    """What training on synthetic data costs in one measure, signed so that positive is always worse:
    TRTR - TSTR when higher is better (ROC AUC, R2), TSTR - TRTR when lower is better (MAE)."""
    if trtr is None or tstr is None:
        return None
    return trtr - tstr if higher_better else tstr - trtr


def utility_section(utility: dict) -> str:
    if utility.get("status") == "not computed":
        return _reason(utility)
    rows = []
    for key, name, higher in MEASURES[utility["task"]]:
        trtr, tstr = _value(utility["trtr"], key), _value(utility["tstr"], key)
        label = f"{name} ({'higher' if higher else 'lower'} is better)"
        rows.append([escape(label), trtr, tstr, _cost(trtr, tstr, higher)])
    rho = _value(utility, "importance_rank_correlation")
    agreement = (
        f"<p class='help'>Feature-importance rank correlation between the two models: {_fmt(rho)} "
        "(1 = the synthetic-trained model relies on the same features in the same order).</p>"
    )
    return (
        f"<p class='help'>{escape(utility['task'])} of <b>{escape(utility['target'])}</b>; "
        f"trained on {utility['train_rows']['real']:,} real and {utility['train_rows']['synthetic']:,} synthetic "
        f"rows, scored on the holdout. The headline utility figures are in "
        f"{escape(UTILITY_METRIC[utility['task']])}. The cost column reads the same way for every measure: "
        "positive = the synthetic-trained model is worse, 0 = no cost, negative = better.</p>"
        + _table(["measure", "TRTR (train real)", "TSTR (train synthetic)", "cost of synthetic (+ = worse)"], rows)
        + agreement
    )


def _outcome_text(outcome) -> str:
    if not outcome:
        return ""
    return escape(", ".join(f"{k}: {v:.3f}" for k, v in outcome.items()))


def fairness_section(fairness: dict, metric: str | None = None) -> str:
    if fairness.get("status") == "not computed":
        return _reason(fairness)
    parts = []
    for name, column in fairness["columns"].items():
        parts.append(f"<h3>{escape(name)}</h3>")
        if column.get("status") == "not computed":
            parts.append(_reason(column))
            continue
        by_group = column.get("utility_by_group", {})
        rows = []
        for group, g in column["groups"].items():
            u = by_group.get(group, {})
            rows.append(
                [
                    escape(group),
                    g["real_share"],
                    g["synthetic_share"],
                    _outcome_text(g.get("real_outcome")),
                    _outcome_text(g.get("synthetic_outcome")),
                    _value(u.get("trtr"), "score"),
                    _value(u.get("tstr"), "score"),
                ]
            )
        parts.append(
            _table(
                [
                    "group",
                    "real share",
                    "synthetic share",
                    "real outcome",
                    "synthetic outcome",
                    f"TRTR ({metric})" if metric else "TRTR",
                    f"TSTR ({metric})" if metric else "TSTR",
                ],
                rows,
            )
        )
        outcome = column["outcome"]
        if outcome.get("status") == "not computed":
            parts.append(_reason(outcome))
        else:
            parts.append(
                _table(
                    ["demographic-parity difference", "real", "synthetic", "change (+ amplified, - reduced)"],
                    [
                        [
                            escape(outcome["kind"]),
                            outcome["dpd_real"],
                            _value(outcome, "dpd_synthetic"),
                            _value(outcome, "dpd_change"),
                        ]
                    ],
                )
            )
    return "".join(parts)


def _span(value, timed: bool) -> str:
    """A gap for reading: seconds as s / min / h / days for datetimes, order units as they are."""
    if value is None:
        return "none"
    if not timed:
        return f"{value:g}"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.3g} s"


def sequences_section(sequences: dict, first: list[bool]) -> str:
    """Event histories: lengths, gaps, hour of day (plots), chronology and entity-level privacy (tables)."""
    import plotly.graph_objects as go

    if sequences.get("status") == "not computed":
        return ""
    parts = [
        f"<p class='help'>{sequences['entities']['real']} real and {sequences['entities']['synthetic']} synthetic "
        f"entities ({escape(sequences['entity'])}), ordered by {escape(sequences['time'])}.</p>"
    ]
    timed = "hour_of_day_tvd" in sequences  # a datetime time column: gaps are in seconds
    rows = [
        [
            "events per entity (TVD)",
            sequences["lengths"]["tvd"],
            "mean real "
            f"{sequences['lengths']['real_mean']:.2f}, synthetic {sequences['lengths']['synthetic_mean']:.2f}",
        ],
        [
            "gaps between events (TVD)",
            sequences["gaps"]["tvd"],
            f"median real {_span(sequences['gaps']['real_median'], timed)}, "
            f"synthetic {_span(sequences['gaps']['synthetic_median'], timed)}",
        ],
    ]
    for key, label in (("hour_of_day_tvd", "hour of day (TVD)"), ("day_of_week_tvd", "day of week (TVD)")):
        if key in sequences:
            rows.append([label, sequences[key], ""])
    rows.append(["event-level accuracy", sequences["event_accuracy"]["overall"], "as for tables, key left out"])
    rows.append(["entity-level accuracy", sequences["entity_accuracy"]["overall"], "one row per entity"])
    parts.append(_table(["measure", "value", ""], rows))
    plots = []
    for name, data in sequences.get("plots", {}).items():
        fig = go.Figure(
            [
                go.Bar(name="real", x=data["bins"], y=data["real"]),
                go.Bar(name="synthetic", x=data["bins"], y=data["synthetic"]),
            ]
        )
        fig.update_layout(title=name, barmode="group")
        plots.append(f"<div>{_figure(fig, first)}</div>")
    parts.append(f"<div class='grid'>{''.join(plots)}</div>")
    chronology = [
        [
            escape(name),
            ac["real"],
            ac["synthetic"],
            sequences["per_entity_mean_tvd"].get(name),
            sequences["first_minus_later_mean"][name]["real"],
            sequences["first_minus_later_mean"][name]["synthetic"],
        ]
        for name, ac in sequences["lag1_autocorrelation"].items()
    ]
    if chronology:
        parts.append("<h3>Chronology per numeric column</h3>")
        parts.append(
            _table(
                [
                    "column",
                    "lag-1 autocorr. real",
                    "synthetic",
                    "per-entity mean TVD",
                    "first - later: real",
                    "synthetic",
                ],
                chronology,
            )
        )
    privacy = sequences.get("entity_privacy", {})
    parts.append("<h3>Privacy with whole histories as the unit</h3>")
    if privacy.get("status") == "not computed":
        parts.append(_reason(privacy))
    else:
        parts.append(_copying_table(privacy, "histories", "chance level for the holdout", "0.5 ideal"))
    return "".join(parts)


def render(evaluation, gates: list, policy: str = "default") -> str:
    import plotly.graph_objects as go

    result, headline = evaluation.result, evaluation.headline()
    real, synthetic = evaluation._real, evaluation._synthetic
    first = [True]
    cards = [
        {"name": name, "value": _fmt(headline[name]), "help": evaluation.meaning(name)}
        for name in evaluation.shown_headlines()
        if headline[name] is not None
    ]
    accuracy = result["fidelity"]["accuracy"]
    rows = "".join(
        f"<tr><td>{escape(c)}</td><td class='num'>{accuracy['columns'][c]:.4f}</td>"
        f"<td class='num'>{_fmt(result['fidelity']['shape'].get(c))}</td>"
        f"<td class='num'>{_fmt_or_blank(result['fidelity']['ks'].get(c))}</td></tr>"
        for c in result["columns"]
    )
    for c, clock in result["fidelity"].get("datetime_clock", {}).items():
        for part in ("hour_of_day", "day_of_week"):
            value = clock[part] if isinstance(clock[part], float) else None
            label = f"{escape(c)}: {part.replace('_', ' ')}"
            rows += f"<tr><td>{label}</td><td class='num'>{_fmt(value)}</td><td></td><td></td></tr>"
    for c, why in result.get("column_kinds", {}).get("left_out", {}).items():
        rows += f"<tr><td>{escape(c)}</td><td colspan='3'>left out: {escape(why)}</td></tr>"
    column_table = f"<table><tr><th>column</th><th>accuracy</th><th>shape</th><th>KS</th></tr>{rows}</table>"
    plots = []
    if real is not None and synthetic is not None:
        for name in list(real.columns)[:MAX_COLUMN_PLOTS]:
            x, real_shares, synthetic_shares = column_bars(real[name], synthetic[name])
            fig = go.Figure(
                [go.Bar(name="real", x=x, y=real_shares), go.Bar(name="synthetic", x=x, y=synthetic_shares)]
            )
            fig.update_layout(
                title=f"{name} (accuracy {accuracy['columns'][name]:.3f})", barmode="group", yaxis_title="share of rows"
            )
            fig.update_xaxes(type="category", automargin=True)
            plots.append(f"<div>{_figure(fig, first)}</div>")
    assoc = result["fidelity"]["associations"]
    heat = ""
    if assoc["real"]:
        names = list(assoc["real"])
        a_real = pd.DataFrame(assoc["real"]).loc[names, names].to_numpy()
        a_syn = pd.DataFrame(assoc["synthetic"]).loc[names, names].to_numpy()
        from plotly.subplots import make_subplots

        # one shared y axis: the column names are written once, left of the first map, so they cannot run
        # into the map before them; the x names are turned and given the room they need below
        fig = make_subplots(
            rows=1,
            cols=3,
            shared_yaxes=True,
            horizontal_spacing=0.03,
            subplot_titles=("real", "synthetic", "|real - synthetic|"),
        )
        for i, matrix in enumerate((a_real, a_syn, np.abs(a_real - a_syn)), start=1):
            fig.add_trace(
                go.Heatmap(z=matrix, x=names, y=names, zmin=0, zmax=1, colorscale="Blues", showscale=i == 3), 1, i
            )
        fig.update_xaxes(tickangle=-60, automargin=True, type="category")
        fig.update_yaxes(automargin=True, type="category", autorange="reversed")
        heat = _figure(fig, first, height=480)
    pairs = "".join(
        f"<tr><td>{escape(p['pair'])}</td><td class='num'>{p['real']:.3f}</td><td class='num'>{p['synthetic']:.3f}</td>"
        f"<td class='num'>{p['difference']:.3f}</td></tr>"
        for p in assoc["top_pairs"]
    )
    header = "<th>pair</th><th>real</th><th>synthetic</th><th>|real - synthetic| (lower is better)</th>"
    top_pairs = f"<table><tr>{header}</tr>{pairs}</table>"
    return _template().render(
        verdict=escape(verdict(gates, policy)) if gates else None,
        verdict_class="pass" if gates and all(g.status == "pass" for g in gates) else "FAIL",
        rows=result["rows"],
        ncols=len(result["columns"]),
        target=result.get("target"),
        cards=cards,
        gates=[{"name": g.name, "value": _fmt(g.value), "bound": g.bound, "status": g.status} for g in gates],
        notes=result.get("notes", []),
        column_table=column_table,
        column_plots="".join(plots),
        heatmaps=heat,
        top_pairs=top_pairs,
        privacy=_guarantee(result) + privacy_section(result["privacy"], first),
        utility=utility_section(result["utility"]),
        fairness=fairness_section(result["fairness"], utility_metric(result)),
        sequences=sequences_section(result.get("sequences", {"status": "not computed"}), first),
        raw=escape(json.dumps(result, indent=1)),
    )
