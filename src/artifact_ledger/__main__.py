"""``python -m artifact_ledger`` runs the CLI."""

import sys

from .cli import main

sys.exit(main())
