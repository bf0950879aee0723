"""The HTML report renders: every plot is drawn and no script fails, checked in a real headless Chromium
when one is installed (skipped otherwise, with the reason), and structurally everywhere."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import privsynth as ps
from privsynth.evaluate.gate import check, load_policy

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome", "headless_shell")


@pytest.fixture(scope="module")
def report(cps, tmp_path_factory):
    train = cps.sample(4000, random_state=0)
    holdout = cps.drop(train.index).sample(2000, random_state=1)
    synthetic = ps.fit(train, engine="copula", seed=0).sample(4000, seed=1)
    evaluation = ps.evaluate(train, synthetic, holdout, target="wage", sensitive=["ethnicity"])
    path = tmp_path_factory.mktemp("report") / "report.html"
    evaluation.to_html(path, check(evaluation.headline(), load_policy()))
    return path


def test_every_section_and_plot_is_in_the_page(report):
    page = report.read_text()
    figures = page.count('class="plotly-graph-div"')
    # one per scored column (CPS1988's 8 but `rownames`, a key left out), the three-panel heat map, the DCR plot
    assert figures == 7 + 1 + 1
    assert "rownames</td><td colspan='3'>left out: identifier" in page
    assert page.count("Plotly.newPlot") == figures
    assert page.count("<script") - page.count("</script>") == 0
    for heading in ("Membership inference", "anonymeter risks", "demographic-parity difference", "TSTR (train"):
        assert heading in page
    assert "density_ratio" in page and "inference of wage" in page
    assert re.search(r"<td class=\"pass\">pass</td>", page)


def test_chromium_draws_every_plot_without_errors(report, tmp_path):
    browser = next((b for b in map(shutil.which, BROWSERS) if b), None)
    if browser is None:
        pytest.skip("no Chromium on PATH (apt install chromium to run this check)")
    completed = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=20000",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    dom, log = completed.stdout, completed.stderr
    figures = report.read_text().count('class="plotly-graph-div"')
    # plotly draws each figure into an svg of class main-svg (two per figure: plot and hover layers)
    assert dom.count('class="main-svg"') >= figures
    assert "Uncaught" not in log and "ReferenceError" not in log and "TypeError" not in log
