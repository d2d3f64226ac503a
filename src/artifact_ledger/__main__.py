"""``python -m artifact_ledger`` runs the CLI."""

import sys

from .launch import main

sys.exit(main())
