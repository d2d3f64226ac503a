"""``python -m artifact_ledger.verify BUNDLE``: the standalone bundle verifier.

Only the standard library: this module is never imported by the package itself, and it
runs ``verify_bundle.py``, which imports nothing else. Without artifact-ledger installed,
run that one file instead: ``python path/to/verify_bundle.py BUNDLE``.
"""

from __future__ import annotations

import sys

if __package__:
    from .verify_bundle import main
else:  # run as a plain script: load the sibling file without touching sys.path
    import importlib.util
    import os

    _spec = importlib.util.spec_from_file_location(
        "verify_bundle", os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify_bundle.py")
    )
    assert _spec is not None
    assert _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["verify_bundle"] = _module  # dataclasses look their module up while the class is built
    _spec.loader.exec_module(_module)
    main = _module.main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
