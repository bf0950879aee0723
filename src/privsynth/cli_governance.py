"""Governance commands: `catalog list|show|lineage|verify`, `card`, `reproduce`; and the helpers every
writing command uses to record what it made in the catalog (with an audit entry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table
from rich.tree import Tree

from privsynth import io
from privsynth.cli import _progress, app, out, settings
from privsynth.errors import PrivsynthError
from privsynth.governance import manifest as manifests
from privsynth.governance.catalog import Catalog, location
from privsynth.governance.intents import intent  # noqa: F401  (the writing commands announce their outputs)
from privsynth.redact import mask_url

catalog_app = typer.Typer(
    help="The catalog of models, datasets and evaluations: list, show, lineage, verify.", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")


def open_catalog() -> Catalog | None:
    """The catalog this command records into (None when switched off); opened before any long work, so
    an unusable catalog fails the command early."""
    return None if location(settings["catalog"]) is None else Catalog(settings["catalog"])


def _where(location_text: str, table: str | None = None) -> str:
    """A printable location: a database URL without its password (and the table), or the path."""
    if io.is_url(location_text):
        return mask_url(location_text) + (f" (table {table})" if table else "")
    return location_text


def record_fit(
    catalog: Catalog | None, model, output, data: str, table: str | None, frame, context: str | None = None
) -> None:
    """The source table (its fingerprint, never values) and the model, linked. A DP model's file withholds
    its source; the custodian's catalog keeps the link. A history model's context table is a second source."""
    from privsynth.fingerprint import fingerprint
    from privsynth.schema import text_names

    if catalog is None:
        return
    print_id = model.manifest["id"]
    source_fp = model.manifest["source"] if model.manifest["source"].get("sha256") else fingerprint(text_names(frame))
    source = _source(source_fp, data, table)
    catalog.record(source, [source["location"]], event="record")
    catalog.record(model.manifest, [output], event="fit")
    catalog.link(print_id, source["id"], "source")
    if context is not None and "context_source" in model.manifest:
        second = _source(model.manifest["context_source"], context, None)
        catalog.record(second, [second["location"]], event="record")
        catalog.link(print_id, second["id"], "context")
    out.print(f"  catalog: {print_id} (source {source['id']})")


def input_parent(catalog: Catalog | None, data: str, table: str | None, frame) -> tuple[dict, bool]:
    """The lineage parent an input table stands for, and whether it is synthetic: its own manifest's id
    when privsynth wrote it, else a source (recorded in the catalog by fingerprint)."""
    from privsynth.fingerprint import fingerprint
    from privsynth.governance.output import read_manifest
    from privsynth.schema import text_names

    if not io.is_url(data):
        try:
            made = read_manifest(data)
            return {"id": made["id"], "kind": made.get("kind")}, bool(made.get("synthetic"))
        except PrivsynthError:
            pass
    source = _source(fingerprint(text_names(frame)), data, table)
    if catalog is not None:
        catalog.record(source, [source["location"]], event="record")
    return {"id": source["id"], "kind": "source"}, False


def _source(fingerprint: dict, data: str, table: str | None) -> dict:
    return {
        "id": manifests.source_id(fingerprint),  # a source's id depends on its records only
        "kind": "source",
        "content": fingerprint,
        "location": _where(data, table) if io.is_url(data) else str(Path(data).absolute()),
        "created": manifests.created_now(),
        "author": manifests.author(),
    }


def record_output(
    catalog: Catalog | None, manifest: dict | None, output: str, event: str, table: str | None = None, **details
) -> None:
    """An output table and its audit entry (a database table by its URL without password, and its name)."""
    if catalog is None or manifest is None:
        return
    catalog.record(manifest, [_where(output, table) if io.is_url(output) else output], event=event, **_plain(details))
    out.print(f"  catalog: {manifest['id']}")


def _plain(details: dict) -> dict:
    return {k: str(v) for k, v in details.items() if v is not None}


def record_evaluation(
    catalog: Catalog | None, result, gates, frames, locations, model_path, reports, policy: str = "default"
) -> None:
    """An evaluation artifact: its headline figures and gates (with the policy's name), the utility score's
    name and the anonymeter risks' intervals (for the card), linked to the synthetic table it judged (by its
    manifest, when it has one), the real tables (by fingerprint) and the model."""
    from privsynth.evaluate.report import anonymeter_detail, utility_metric
    from privsynth.fingerprint import fingerprint
    from privsynth.governance.output import read_manifest
    from privsynth.schema import text_names

    if catalog is None:
        return
    parents = []
    synthetic = locations[1]
    try:
        made = read_manifest(synthetic) if not io.is_url(synthetic) else None
    except PrivsynthError:
        made = None
    if made is not None:
        parents.append({"id": made["id"], "role": "synthetic", "kind": made.get("kind")})
    for role, frame in (("real", frames[0]), ("holdout", frames[2])):
        if frame is not None:
            parents.append({"id": manifests.source_id(fingerprint(text_names(frame))), "role": role, "kind": "source"})
    if model_path is not None:
        from privsynth.modelfile import read_manifest as model_manifest

        parents.append({"id": model_manifest(model_path)["id"], "role": "model", "kind": "model"})
    headline = {k: v for k, v in result.headline().items() if v is not None}
    manifest = manifests.with_id(
        {
            "kind": "evaluation",
            "created": manifests.created_now(),
            "author": manifests.author(),
            "privsynth_version": manifests.versions()["privsynth"],
            "parents": parents,
            "synthetic_fingerprint": fingerprint(frames[1]),
            "headline": headline,
            "gates": [{"name": g.name, "value": g.value, "bound": g.bound, "status": g.status} for g in gates],
            "policy": policy,
            "utility_metric": utility_metric(result.result),
            "anonymeter": {
                name: detail
                for name in ("singling_out_risk", "linkability_risk", "anonymeter_risk_max")
                if (detail := anonymeter_detail(result.result, name)) is not None
            },
            "guarantee": result.to_dict()["guarantee"],
        }
    )
    catalog.record(manifest, [p for p in reports if p is not None], event="evaluate")
    out.print(f"  catalog: {manifest['id']}" + ("" if made else " (the synthetic table has no manifest: not linked)"))


def record_demo(catalog: Catalog | None, summary: dict) -> None:
    """The demo's source, model, synthetic table and evaluation in the catalog, and its card."""
    from privsynth.governance.card import card_context, write_card

    files, model = summary["files"], summary["model"]
    frames = summary["frames"]
    if catalog is not None:
        record_fit(catalog, model, files["model"], files["real"], None, frames[0])
        record_output(catalog, summary["synthetic_manifest"], files["synthetic"], "sample")
        locations = (files["real"], files["synthetic"], files["holdout"])
        reports = [files["report"], files["json"]]
        record_evaluation(catalog, summary["evaluation"], summary["gates"], frames, locations, files["model"], reports)
    name = Path(files["synthetic"]).name
    write_card(card_context(summary["synthetic_manifest"], catalog, model, name=name), files["card"])


# -- catalog commands ----------------------------------------------------------------------------------
def _catalog() -> Catalog:
    catalog = open_catalog()
    if catalog is None:
        raise PrivsynthError("the catalog is switched off (--catalog off or PRIVSYNTH_CATALOG=off)")
    return catalog


@catalog_app.command("list")
def catalog_list(
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only this kind: source, model, synthetic, augmented, evaluation...")
    ] = None,
) -> None:
    """Every recorded artifact, newest first."""
    with _catalog() as catalog:
        rows = catalog.artifacts(kind)
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        for header in ("id", "kind", "created", "author", "engine", "rows", "path"):
            table.add_column(
                header, no_wrap=header != "path", overflow="fold", min_width=24 if header == "id" else None
            )
        for row in rows:
            shown_rows = "" if row["rows"] is None else f"{row['rows']:,}"
            fields = (row["id"], row["kind"], row["created"], row["author"], row["engine"] or "", shown_rows)
            table.add_row(*fields, row["path"] or "")
        out.print(table)
        out.print(f"{len(rows)} artifact(s) in {mask_url(catalog.url)}")


@catalog_app.command("show")
def catalog_show(
    ident: Annotated[str, typer.Argument(metavar="ID", help="An id, a unique prefix, or a path.")],
) -> None:
    """One artifact: its manifest, files, parents and children."""
    with _catalog() as catalog:
        artifact = catalog.get(ident)
        out.print(json.dumps(artifact.manifest, indent=1, sort_keys=True), markup=False, soft_wrap=True)
        for file in artifact.files:
            out.print(f"file {file['path']} sha256 {file['sha256'] or '-'} (recorded {file['recorded']})")
        for parent, role in catalog.parents(artifact.id):
            out.print(f"parent {parent} ({role})")
        for child, role in catalog.children(artifact.id):
            out.print(f"child {child} (as {role})")


@catalog_app.command("lineage")
def catalog_lineage(
    ident: Annotated[str, typer.Argument(metavar="ID", help="An id, a unique prefix, or a path.")],
    fmt: Annotated[str, typer.Option("--format", help="tree | prov (W3C PROV-JSON)")] = "tree",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write PROV-JSON here (default: stdout).")
    ] = None,
) -> None:
    """Where ID came from (its ancestors) and what was made from it (its descendants)."""
    from privsynth.governance.lineage import ancestry, prov_document

    if fmt not in ("tree", "prov"):
        raise PrivsynthError(f"--format is tree or prov, not {fmt!r}")
    with _catalog() as catalog:
        ident = catalog.resolve(ident)
        if fmt == "prov":
            text = json.dumps(prov_document(catalog, ident), indent=1, sort_keys=True) + "\n"
            if output is None:
                out.print(text, markup=False, end="")
            else:
                io.write_bytes_atomic(output, lambda fh: fh.write(text.encode()))
                catalog.audit("export", ident, what="lineage", format="prov-json", path=str(output))
                out.print(f"PROV-JSON -> {output}")
            return
        up, down = ancestry(catalog, ident)
        tree = Tree(f"{ident}")
        _grow(tree.add("made from"), up)
        _grow(tree.add("used by"), down)
        out.print(tree)


def _grow(node: Tree, branches: list[dict]) -> None:
    for branch in branches:
        _grow(
            node.add(f"{branch['id']}  {branch['kind']}  ({branch['role']})  {branch.get('path') or ''}"),
            branch["next"],
        )


@catalog_app.command("verify")
def catalog_verify(
    paths: Annotated[
        list[Path] | None, typer.Argument(metavar="[PATH]...", help="Only these files or folders (default: all).")
    ] = None,
) -> None:
    """Recompute every recorded file's hash and the audit log's chain: exit 0 when intact, 1 listing every
    tampered or missing file and removed or edited log entry."""
    with _catalog() as catalog:
        problems = catalog.verify(paths or None)
        entries = len(catalog.entries())
        files = len(catalog.artifacts())
    for problem in problems:
        out.print(f"FAIL {problem}", markup=False, soft_wrap=True)
    if problems:
        out.print(f"{len(problems)} problem(s) found")
        raise typer.Exit(1)
    out.print(f"intact: {files} artifact(s), {entries} audit entries, hash chain unbroken")


@app.command()
def card(
    target: Annotated[
        str, typer.Argument(metavar="MODEL_OR_DATASET", help="A model file, an output file, or a catalog id.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="card.html or card.md to write.")],
    purpose: Annotated[str | None, typer.Option("--purpose", help="What the data or model is for.")] = None,
    intended_use: Annotated[str | None, typer.Option("--intended-use", help="Who may use it, and how.")] = None,
) -> None:
    """A model card / datasheet from the manifest and the latest recorded evaluation."""
    from privsynth.governance.card import card_context, write_card
    from privsynth.governance.output import read_manifest

    io.check_output(output, {"subject": target if Path(target).exists() else None})
    catalog = open_catalog()
    if Path(target).exists():
        manifest = read_manifest(target)
    elif catalog is not None:
        manifest = catalog.get(target).manifest
    else:
        raise PrivsynthError(f"{target} is neither a file nor (with the catalog off) an id that can be looked up")
    model = _model_of(manifest, target, catalog)
    if Path(target).exists():
        name = Path(target).name
    else:  # a catalog id: the file it was written to
        files = catalog.get(manifest["id"]).files
        name = Path(files[0]["path"]).name if files else None
    context = card_context(manifest, catalog, model, purpose, intended_use, name=name)
    write_card(context, output)
    if catalog is not None:
        catalog.audit("export", manifest["id"], what="card", path=str(Path(output).absolute()))
    out.print(f"card for {manifest['id']} -> {output}")


def _model_of(manifest: dict, target: str, catalog):
    """The model behind a card's subject (itself, or its parent found through the catalog), or None."""
    import privsynth as ps

    if manifest.get("kind") == "model":
        path = target if Path(target).exists() else (catalog.get(manifest["id"]).files or [{}])[0].get("path")
        return ps.load(path) if path and Path(path).exists() else None
    for parent in manifest.get("parents", []):
        if parent.get("role") == "model" and catalog is not None and catalog.known(parent["id"]):
            files = catalog.get(parent["id"]).files
            if files and Path(files[0]["path"]).exists():
                return ps.load(files[0]["path"])
    return None


@app.command()
def reproduce(
    target: Annotated[
        Path, typer.Argument(metavar="MANIFEST", help="A model file, an output file, or its .manifest.json.")
    ],
    source: Annotated[
        str | None, typer.Option("--source", help="The source/input table (default: where the catalog recorded it).")
    ] = None,
    model: Annotated[
        Path | None, typer.Option("--model", help="The parent model file (default: where the catalog recorded it).")
    ] = None,
) -> None:
    """Re-run the generation a manifest records (same inputs, parameters, seed, time and author) and confirm
    the output is byte-identical: exit 0 when it is, 1 when it is not."""
    from privsynth.governance.reproduce import reproduce as run

    catalog = open_catalog()
    with _progress("reproducing"):
        result = run(target, source=source, model=model, catalog=catalog)
    if catalog is not None:
        catalog.audit("reproduce", result.manifest_id, identical=result.identical, path=str(result.original))
    if result.identical:
        out.print(f"reproduced {result.manifest_id} ({result.command}): byte-identical to {result.original}")
        return
    out.print(f"NOT identical: re-running {result.command} for {result.manifest_id} gave different bytes")
    for note in result.notes:
        out.print(f"  version differs: {note}")
    raise typer.Exit(1)
