"""Bedside verification and the infusion record."""
