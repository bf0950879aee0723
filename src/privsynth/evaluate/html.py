"""The HTML report: one self-contained file (inline CSS, inline plotly.js, no network) with plots."""

from __future__ import annotations

import json

import jinja2
import numpy as np
import pandas as pd

from privsynth.evaluate import fidelity
from privsynth.evaluate.report import HEADLINES, escape

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


def nested_table(data) -> str:
    """A dict rendered as a two-column table (nested dicts flattened with dotted keys)."""
    if isinstance(data, dict) and data.get("status") == "not computed":
        return f'<p class="nc">not computed: {escape(data.get("reason", ""))}</p>'
    rows = []

    def walk(prefix: str, node) -> None:
        if isinstance(node, dict) and node.get("status") == "not computed":
            rows.append((prefix, f'<span class="nc">not computed: {escape(node.get("reason", ""))}</span>'))
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, list) and len(node) > 12:
            rows.append((prefix, escape(f"[{len(node)} values]")))
        else:
            rows.append((prefix, _fmt(node) if not isinstance(node, list) else escape(json.dumps(node))))

    walk("", data)
    body = "".join(f"<tr><td>{escape(k)}</td><td class='num'>{v}</td></tr>" for k, v in rows)
    return f"<table><tr><th>figure</th><th>value</th></tr>{body}</table>"


def _figure(fig, first: list[bool]) -> str:
    include = "inline" if first[0] else False
    first[0] = False
    fig.update_layout(margin={"l": 40, "r": 10, "t": 40, "b": 40}, height=300, template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=include, config={"displayModeBar": False})


def render(evaluation, gates: list) -> str:
    import plotly.graph_objects as go

    result, headline = evaluation.result, evaluation.headline()
    real, synthetic = evaluation._real, evaluation._synthetic
    first = [True]
    cards = [
        {"name": name, "value": _fmt(value), "help": HEADLINES[name][1]}
        for name, value in headline.items()
        if value is not None
    ]
    accuracy = result["fidelity"]["accuracy"]
    rows = "".join(
        f"<tr><td>{escape(c)}</td><td class='num'>{accuracy['columns'][c]:.4f}</td>"
        f"<td class='num'>{_fmt(result['fidelity']['shape'].get(c))}</td>"
        f"<td class='num'>{_fmt_or_blank(result['fidelity']['ks'].get(c))}</td></tr>"
        for c in result["columns"]
    )
    column_table = f"<table><tr><th>column</th><th>accuracy</th><th>shape</th><th>KS</th></tr>{rows}</table>"
    plots = []
    if real is not None and synthetic is not None:
        for name in list(real.columns)[:MAX_COLUMN_PLOTS]:
            r, s, labels = fidelity.bin_column(real[name], synthetic[name])
            names = {-1: "(null)", -2: "(other)", **{i: str(label) for i, label in enumerate(labels)}}
            keys = sorted(set(np.unique(r)) | set(np.unique(s)), key=lambda k: (k < 0, k))
            x = [names.get(int(k), str(k)) for k in keys]
            shares = [[float(np.mean(codes == k)) for k in keys] for codes in (r, s)]
            fig = go.Figure([go.Bar(name="real", x=x, y=shares[0]), go.Bar(name="synthetic", x=x, y=shares[1])])
            fig.update_layout(title=f"{name} (accuracy {accuracy['columns'][name]:.3f})", barmode="group")
            plots.append(f"<div>{_figure(fig, first)}</div>")
    assoc = result["fidelity"]["associations"]
    heat = ""
    if assoc["real"]:
        names = list(assoc["real"])
        a_real = pd.DataFrame(assoc["real"]).loc[names, names].to_numpy()
        a_syn = pd.DataFrame(assoc["synthetic"]).loc[names, names].to_numpy()
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=3, subplot_titles=("real", "synthetic", "|real - synthetic|"))
        for i, matrix in enumerate((a_real, a_syn, np.abs(a_real - a_syn)), start=1):
            fig.add_trace(
                go.Heatmap(z=matrix, x=names, y=names, zmin=0, zmax=1, colorscale="Blues", showscale=i == 3), 1, i
            )
        fig.update_layout(height=420)
        heat = _figure(fig, first).replace("height:300px", "height:420px")
    pairs = "".join(
        f"<tr><td>{escape(p['pair'])}</td><td class='num'>{p['real']:.3f}</td><td class='num'>{p['synthetic']:.3f}</td>"
        f"<td class='num'>{p['difference']:.3f}</td></tr>"
        for p in assoc["top_pairs"]
    )
    top_pairs = f"<table><tr><th>pair</th><th>real</th><th>synthetic</th><th>difference</th></tr>{pairs}</table>"
    return _template().render(
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
        privacy=nested_table(result.get("privacy")),
        utility=nested_table(result.get("utility")),
        fairness=nested_table(result.get("fairness")),
        raw=escape(json.dumps(result, indent=1)),
    )
