"""Shipments, the chain of custody, temperature and site pharmacy."""
