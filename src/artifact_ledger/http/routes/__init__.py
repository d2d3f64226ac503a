"""The route modules: chapkit's artifact routes, the ledger's per-artifact routes, the log routes."""
