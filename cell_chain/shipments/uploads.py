"""A logger file is read outside any transaction: its seconds of parsing hold no database
snapshot or lock (on SQLite, no one's write waits for it), and a request run again after a
write conflict does not parse the same file twice."""
import hashlib

from flask import g

from cell_chain.core.clock import utcnow
from cell_chain.core.db import begin_for_read, begin_for_write, db
from cell_chain.shipments import services
from cell_chain.shipments.loggers import LoggerTrace
from cell_chain.shipments.models import Shipment


def prepare_upload(shipment: Shipment, data: bytes, filename: str | None) -> services.PreparedTemperature:
    """Parse the file and work out the journey's readings and excursions, then leave the
    session ready for the short write (`record_temperature(prepared=…)`), which on SQLite
    takes the write lock at its start. For the API and the page alike. Raises LoggerFileError."""
    trace = read_upload(data, filename)
    begin_for_read()
    prepared = services.prepare_temperature(shipment, trace, now=utcnow())
    begin_for_write()
    return prepared


def read_upload(data: bytes, filename: str | None) -> LoggerTrace:
    """The file's readings. Raises LoggerFileError."""
    key = (hashlib.sha256(data).hexdigest(), filename)
    cached = g.get("logger_upload")
    if cached is not None and cached[0] == key:
        return cached[1]
    # End the request's read transaction (nothing is written yet): the parse runs outside it,
    # and the write that follows starts from fresh data.
    db.session.rollback()
    trace = services.read_logger_file(data, filename)
    g.logger_upload = (key, trace)
    return trace
