"""The Citus plan without a database: which schema each namespace is, and the statements."""

from __future__ import annotations

import pytest

from artifact_ledger import CitusUnavailableError
from artifact_ledger.citus import MIN_CITUS, parse_version, plan_for
from artifact_ledger.namespaces import postgres_schema


def test_every_namespace_is_one_distributed_schema() -> None:
    plan = plan_for("ledgers", "app", ["default", "team-a", "team-b"])
    assert plan.schemas == {
        "default": "app",
        "team-a": postgres_schema("app", "team-a"),
        "team-b": postgres_schema("app", "team-b"),
    }
    assert plan.kept_local == []
    statements = plan.statements()
    assert statements[:2] == [
        'ALTER DATABASE "ledgers" SET citus.enable_unsafe_triggers TO on',
        "SET citus.enable_unsafe_triggers TO on",
    ]
    assert statements[2:] == [f"SELECT citus_schema_distribute('\"{s}\"')" for s in plan.schemas.values()]


def test_a_default_namespace_in_public_stays_on_the_coordinator() -> None:
    plan = plan_for("ledgers", "public", ["default", "team-a"])
    assert plan.kept_local == ["default"]
    assert plan.distributed == {"team-a": postgres_schema("public", "team-a")}
    assert not any("'\"public\"'" in s for s in plan.statements())
    script = plan.script()
    assert "namespace default: schema public cannot be distributed" in script
    assert f"-- namespace team-a: schema {postgres_schema('public', 'team-a')}" in script


def test_quotes_in_names_cannot_leave_the_literal() -> None:
    plan = plan_for('we"ird', "it's", ["default"])
    assert plan.statements() == [
        'ALTER DATABASE "we""ird" SET citus.enable_unsafe_triggers TO on',
        "SET citus.enable_unsafe_triggers TO on",
        "SELECT citus_schema_distribute('\"it''s\"')",
    ]


@pytest.mark.parametrize(("version", "parsed"), [("12.1-1", (12, 1)), ("13.0", (13, 0)), ("11.3-2", (11, 3))])
def test_extension_versions(version: str, parsed: tuple[int, int]) -> None:
    assert parse_version(version) == parsed
    assert (parsed >= MIN_CITUS) == (parsed[0] >= 12)


def test_an_unreadable_version_is_refused() -> None:
    with pytest.raises(CitusUnavailableError, match="cannot read the Citus version 'devel'"):
        parse_version("devel")
