"""Lineage from the catalog: the ancestry tree of an artifact, and W3C PROV-JSON for data-catalog tools.

PROV mapping (https://www.w3.org/submissions/prov-json/): every artifact is an `entity`; the operation that
made it (fit, sample, augment, ...) an `activity` that `used` the parents and by which the artifact
`wasGeneratedBy`; the author an `agent` the activity `wasAssociatedWith`; plus `wasDerivedFrom` per parent.
"""

from __future__ import annotations

from privsynth.governance.catalog import Catalog

NAMESPACE = "https://privsynth.org/ns/prov#"


def ancestry(catalog: Catalog, ident: str) -> tuple[list[dict], list[dict]]:
    """(ancestors, descendants) of `ident` as nested {"id", "kind", "role", "path", "next"} branches."""

    def walk(node: str, step, seen: frozenset) -> list[dict]:
        branches = []
        for other, role in step(node):
            if other in seen:
                continue
            manifest = catalog.known(other) or {}
            files = catalog.get(other).files if manifest else []
            branches.append(
                {
                    "id": other,
                    "kind": manifest.get("kind", "not recorded"),
                    "role": role,
                    "path": files[0]["path"] if files else None,
                    "next": walk(other, step, seen | {other}),
                }
            )
        return branches

    return walk(ident, catalog.parents, frozenset({ident})), walk(ident, catalog.children, frozenset({ident}))


def _related(catalog: Catalog, ident: str) -> set[str]:
    """`ident` and every artifact linked to it through parents or children, transitively."""
    seen, todo = set(), [ident]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo += [p for p, _ in catalog.parents(node)] + [c for c, _ in catalog.children(node)]
    return seen


def prov_document(catalog: Catalog, ident: str) -> dict:
    """The lineage around `ident` (everything linked to it) as a PROV-JSON document."""
    doc: dict = {
        "prefix": {"privsynth": NAMESPACE},
        "entity": {},
        "activity": {},
        "agent": {},
        "wasGeneratedBy": {},
        "used": {},
        "wasDerivedFrom": {},
        "wasAssociatedWith": {},
        "wasAttributedTo": {},
    }
    for node in sorted(_related(catalog, ident)):
        manifest = catalog.known(node)
        entity = f"privsynth:{node}"
        if manifest is None:
            doc["entity"][entity] = {"prov:label": "not recorded in this catalog"}
            continue
        attributes = {"prov:type": f"privsynth:{manifest.get('kind')}", "prov:label": node}
        content = manifest.get("content") or manifest.get("source") or {}
        for key in ("rows", "columns", "sha256"):
            if content.get(key) is not None:
                attributes[f"privsynth:{key}"] = content[key]
        if manifest.get("privacy"):
            attributes["privsynth:guarantee"] = manifest["privacy"].get("guarantee")
        files = catalog.get(node).files
        if files:
            attributes["prov:location"] = files[0]["path"]
        doc["entity"][entity] = attributes
        parents = catalog.parents(node)
        if manifest.get("kind") == "source":
            continue
        command = (manifest.get("operation") or {}).get("command") or manifest.get("kind")
        activity = f"privsynth:{command}-{node}"
        doc["activity"][activity] = {"prov:startTime": manifest.get("created"), "prov:type": f"privsynth:{command}"}
        agent = f"privsynth:agent-{manifest.get('author', 'unknown')}"
        doc["agent"][agent] = {"prov:type": "prov:Person", "prov:label": manifest.get("author", "unknown")}
        doc["wasGeneratedBy"][f"_:gen-{node}"] = {"prov:entity": entity, "prov:activity": activity}
        doc["wasAssociatedWith"][f"_:assoc-{node}"] = {"prov:activity": activity, "prov:agent": agent}
        doc["wasAttributedTo"][f"_:attr-{node}"] = {"prov:entity": entity, "prov:agent": agent}
        for parent, role in parents:
            used = f"privsynth:{parent}"
            doc["used"][f"_:use-{node}-{parent}"] = {"prov:activity": activity, "prov:entity": used, "prov:role": role}
            doc["wasDerivedFrom"][f"_:der-{node}-{parent}"] = {
                "prov:generatedEntity": entity,
                "prov:usedEntity": used,
                "prov:activity": activity,
            }
    for parent in {p for n in _related(catalog, ident) for p, _ in catalog.parents(n)}:
        doc["entity"].setdefault(f"privsynth:{parent}", {"prov:label": "not recorded in this catalog"})
    return {k: v for k, v in doc.items() if v}
