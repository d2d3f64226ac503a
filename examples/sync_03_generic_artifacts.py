"""Generic artifacts: a project -> document -> version hierarchy with free-form metadata (sync API).

Shows how to:
- create generic artifacts whose ``GenericMetadata`` carries any extra fields
- store arbitrary JSON content
- build a three-level hierarchy (project -> document -> versions) and print it as a tree
- query artifacts by hierarchy level
- (ledger addition) update a version artifact and list its history with version numbers

The same as ``03_generic_artifacts.py``, written with ``artifact_ledger.sync`` (no coroutines), for scripts
and notebooks. Run with ``python examples/sync_03_generic_artifacts.py [DATABASE_URL]``
(default: in-memory SQLite). Given a database URL, a run adds to what earlier runs
left there and ends by saying where it wrote.
"""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy.engine import make_url

from artifact_ledger import (
    ArtifactHierarchy,
    ArtifactIn,
    ArtifactTreeNode,
    GenericArtifactData,
    GenericMetadata,
    sync,
)


def generic_data(metadata: GenericMetadata, content: Any) -> dict[str, Any]:
    """Validate with the typed schema, then keep the content as given."""
    typed = GenericArtifactData(metadata=metadata, content=content, content_type="application/json")
    return {
        "type": typed.type,
        "metadata": typed.metadata.model_dump(),
        "content": content,
        "content_type": typed.content_type,
    }


def print_tree(node: ArtifactTreeNode, indent: int = 0) -> None:
    name = node.data["metadata"].get("name") or f"v{node.data['metadata'].get('version_number')}"
    print(f"{'  ' * indent}- {node.level_label} (level {node.level}): {name}")
    for child in node.children or []:
        print_tree(child, indent + 1)


MEMORY = "sqlite+aiosqlite:///:memory:"


def main(url: str = MEMORY) -> None:
    hierarchy = ArtifactHierarchy(name="documents", level_labels={0: "project", 1: "document", 2: "version"})

    # The ledger runs one event loop on a private thread; each call below waits for its result.
    with sync.Ledger.open(url) as ledger, ledger.manager(hierarchy=hierarchy) as manager:
        earlier = {a.id for a in manager.find_all()}  # a database given on the command line may hold earlier runs
        project = manager.save(
            ArtifactIn(
                data=generic_data(
                    GenericMetadata(name="Malaria forecasting", owner="research-team", topics=["health", "ml"]),
                    {"description": "Monthly malaria case forecasts per district"},
                )
            )
        )
        document = manager.save(
            ArtifactIn(
                parent_id=project.id,
                data=generic_data(
                    GenericMetadata(name="Methods", author="alice", format="markdown"),
                    {"title": "Methods", "sections": ["Data", "Model", "Validation"]},
                ),
            )
        )
        versions = []
        for number, status in enumerate(["draft", "review", "final"], start=1):
            version = manager.save(
                ArtifactIn(
                    parent_id=document.id,
                    data=generic_data(
                        GenericMetadata(version_number=number, status=status, word_count=1000 * number),
                        {"body": f"Methods, revision {number}", "status": status},
                    ),
                )
            )
            versions.append(version)
        print(f"Project {project.id} (level {project.level})")
        print(f"Document {document.id} (level {document.level})")
        for version in versions:
            meta = version.data["metadata"]
            print(f"Version {meta['version_number']} {version.id} (level {version.level}): {meta['status']}")

        tree = manager.build_tree(project.id)
        if tree is None:
            raise SystemExit(f"build_tree found nothing under project {project.id}")
        print(f"\nTree of hierarchy {tree.hierarchy!r}:")
        print_tree(tree)

        # Query by level: every artifact of a given depth in the hierarchy (this run's).
        everything = [a for a in manager.find_all() if a.id not in earlier]
        for level, label in hierarchy.level_labels.items():
            at_level = [a for a in everything if a.level == level]
            print(f"Level {level} ({label}): {len(at_level)} artifact(s)")
        level_2 = [a for a in everything if a.level == 2]
        if [a.id for a in level_2] != [v.id for v in versions]:
            raise SystemExit("level 2 should hold exactly the three versions")
        final = next(a for a in level_2 if a.data["metadata"]["status"] == "final")
        print(f"Final version: {final.data['content']['body']} ({final.data['metadata']['word_count']} words)")

        # Ledger addition: update the draft; the old data stays in its history.
        draft = versions[0]
        updated_data = generic_data(
            GenericMetadata(version_number=1, status="superseded", word_count=1000),
            {"body": "Methods, revision 1", "status": "superseded"},
        )
        updated = manager.save(ArtifactIn(id=draft.id, parent_id=document.id, data=updated_data))
        print(f"\nUpdated {updated.id}: now version {updated.version}")
        history = manager.history(draft.id)
        for entry in history:
            print(f"History: version {entry.version} {entry.event_type} status={entry.data['metadata']['status']}")
        if [h.version for h in history] != [1, 2] or updated.version != 2:
            raise SystemExit(f"expected versions [1, 2], got {[h.version for h in history]}")

        report = ledger.verify()
        print(f"Verified: {report.ok} ({report.events_checked} events)")
        if not report.ok:
            raise SystemExit(f"the ledger does not verify: {report.problem}")
        if url != MEMORY:  # a database that outlives this run: say where it and its key are
            key_file = getattr(ledger.async_ledger.keyring, "path", None)  # made when a pickle is first signed
            key_note = f" (pickle-signing key: {key_file})" if key_file and key_file.exists() else ""
            print(f"Wrote to {make_url(url).render_as_string(hide_password=True)}{key_note}; it stays for the next run")


if __name__ == "__main__":
    main(*sys.argv[1:2])
