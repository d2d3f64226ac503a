"""Projectors: the current-state tables the event log is folded into, in the append transaction."""
