"""What the shipment and pharmacy pages (and their in-place answers) call each stored code."""
from flask_babel import lazy_gettext as _l

from cell_chain.web.words import Vocabulary

WORDS = {
    "draft": _l('Draft'), "packed": _l('Packed'), "dispatched": _l('Dispatched'), "in_transit": _l('In transit'),
    "received": _l('Received'), "partially_received": _l('Partially received'), "closed": _l('Closed'),
    "accepted": _l('Accepted'), "missing": _l('Missing'), "quarantined": _l('Quarantined'), "open": _l('Open'),
    "rejected": _l('Rejected'), "dispensed": _l('Dispensed'), "allocated": _l('Allocated'),
    "administered": _l('Administered'), "destroyed": _l('Destroyed'), "returned": _l('Returned'),
    "dispatch": _l('Dispatched to courier'), "handoff": _l('Courier hand-off'), "receipt": _l('Received at site'),
    "dispense": _l('Dispensed to ward'), "destroy": _l('Destroyed'), "return": _l('Returned to manufacturer'),
    "administer": _l('Administered'), "cryopreserved": _l('Cryopreserved'), "fresh": _l('Fresh'),
}
# Colour always comes with the words; these only pick the colour.
TONES = {
    "draft": "", "packed": "info", "dispatched": "info", "in_transit": "info", "received": "ok",
    "partially_received": "warn", "closed": "", "accepted": "ok", "missing": "stop",
    "quarantined": "stop", "open": "stop", "rejected": "stop", "dispensed": "info",
    "allocated": "info", "destroyed": "stop", "returned": "warn", "administered": "ok",
}


VOCABULARY = Vocabulary(WORDS, TONES)
