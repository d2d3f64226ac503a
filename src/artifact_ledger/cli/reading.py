"""The ledger the read commands open: on ``--db``, reading from ``--read-db`` when one is given."""

from __future__ import annotations

import argparse
import os
from contextlib import AbstractAsyncContextManager

from ..ledger import Ledger

READ_DB_ENV = "ARTIFACT_LEDGER_READ_URL"
READ_DB_HELP = (
    "a PostgreSQL hot standby of --db that ls, show, tree, history, diff, audit and lineage read from "
    f"(default: ${READ_DB_ENV}, else none); refused if it is not a standby of --db"
)


def read_db_default() -> str | None:
    return os.environ.get(READ_DB_ENV) or None


def open_for_reads(args: argparse.Namespace) -> AbstractAsyncContextManager[Ledger]:
    """``Ledger.open(args.db, create=False)``, with the read replica of ``--read-db`` if given."""
    return Ledger.open(
        args.db, create=False, read_url=getattr(args, "read_db", None), blobs=args.blobs, namespace=args.namespace
    )
