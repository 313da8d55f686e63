"""Reconciliation, trace and reports (DESIGN §6)."""
