"""Transitional: the names the rest of the library imported from here, now in their own modules.

The recorders (``recorder.py``, ``sqlite.py``, ``postgres.py``) run the statements of
``statements.py``; driver errors become ledger errors in ``errors.py``.
"""

from __future__ import annotations

from .errors import translate, translated  # re-export
from .recorder import Recorder, Rows, Step, recorder_for

Driver = Recorder
driver_for = recorder_for

__all__ = ["Driver", "Recorder", "Rows", "Step", "driver_for", "recorder_for", "translate", "translated"]
