"""`privsynth budget`: show a source's privacy-budget spend, set its limit, register named sources."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.table import Table

from privsynth.cli import EncodingOpt, LedgerOpt, TableOpt, _read, app, out
from privsynth.errors import PrivsynthError

USAGE = (
    "privsynth budget DATA [--limit E [--delta D]] | budget register NAME FILE... [--limit E [--delta D]] | "
    "budget sources"
)


@app.command()
def budget(
    args: Annotated[
        list[str],
        typer.Argument(
            help="DATA (a file, or a database URL with --table): its spend; `register NAME FILE...`: register "
            "the named source with the files/tables that belong to it; `sources`: the registered sources.",
            show_default=False,
        ),
    ],
    table: TableOpt = None,
    encoding: EncodingOpt = "utf-8",
    limit: Annotated[
        float | None,
        typer.Option("--limit", help="Set the source's epsilon limit (raising it is your decision, audited)."),
    ] = None,
    delta: Annotated[
        float | None, typer.Option("--delta", help="With --limit: the delta the totals are stated at.")
    ] = None,
    ledger: LedgerOpt = None,
) -> None:
    """Show the privacy budget spent on DATA's source by every DP model fitted on it, or set its limit;
    register a named source (`budget register NAME FILE... --limit E`); list them (`budget sources`)."""
    from privsynth.cli_governance import open_catalog
    from privsynth.privacy.ledger import Ledger

    if delta is not None and limit is None:
        raise PrivsynthError("--delta is set together with --limit")
    book = Ledger(ledger, catalog=open_catalog())  # with a catalog on, its ledger is authoritative
    if args[0] == "register" and len(args) >= 3:
        name, files = args[1], args[2:]
        state = book.register(name, [(_label(f, table), _frame(f, table, encoding)) for f in files], limit, delta)
        out.print(f"registered source {name}: {len(files)} file(s) added, in ledger {book.path}")
        _show(name, state)
        return
    if args == ["sources"]:
        shown = Table("source", "files / tables", "spent epsilon", "limit", box=box.SIMPLE_HEAD)
        for name, facts in sorted(book.registered().items()):
            shown.add_row(name, ", ".join(facts["members"]), f"{facts['epsilon']:.4g}", f"{facts['limit']:g}")
        out.print(shown)
        return
    if len(args) != 1:
        raise PrivsynthError(f"usage: {USAGE}")
    frame = _frame(args[0], table, encoding)
    match = book.resolve(frame)
    state = book.set_limit(frame, limit, delta) if limit is not None else book.source(frame)
    if match.how == "new":
        where = f"unregistered source {match.key[:16]}…"
    elif match.registered:
        where = f"registered source {match.key}"
    else:
        where = f"unregistered source {match.key[:16]}…"
    if match.how == "similar":
        where += f", recognised by content (similarity {match.similarity:.2f})"
    out.print(f"{where} in ledger {book.path}")
    _show(match.key, state)


def _frame(data: str, table: str | None, encoding: str):
    from privsynth.schema import text_names

    return text_names(_read(data, table, encoding))


def _label(data: str, table: str | None) -> str:
    from privsynth.cli_governance import _where

    return _where(data, table)


def _show(_key: str, state) -> None:
    spends = Table("fitted", "engine", "epsilon", "delta", "rho", box=box.SIMPLE_HEAD)
    for spend in state.spends:
        cost = "Rényi curve" if spend.get("curve") is not None else f"{spend['rho']:.4g}"  # DP-SGD: not zCDP
        figures = (f"{spend.get('epsilon', 0):g}", f"{spend.get('delta', 0):g}", cost)
        when = spend.get("created") or ("running or crashed (booked)" if spend.get("status") == "reserved" else "?")
        spends.add_row(when, spend.get("engine", "?"), *figures)
    if state.spends:
        out.print(spends)
    out.print(
        f"spent: epsilon {state.epsilon:.4g} of limit {state.limit:g} (composed in RDP, at delta {state.delta:g}); "
        f"{len(state.spends)} DP fit(s)"
    )
