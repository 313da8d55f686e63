"""Controlled labels: payloads, rendering, print jobs and print-then-scan verification."""
