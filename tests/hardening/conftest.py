"""The shipment world (sites and a dispatched box) that the hardening tests share with the
shipment tests."""
from tests.shipments.conftest import dispatched, sites  # noqa: F401
