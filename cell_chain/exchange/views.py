"""Page: the monitor's SDTM downloads (/exports/sdtm), each link carrying the data cut shown."""
from flask import Blueprint, render_template

from cell_chain.accounts.permissions import require_actor, roles_required
from cell_chain.core.clock import utcnow
from cell_chain.exchange import sdtm

bp = Blueprint("exchange_pages", __name__, template_folder="templates")


@bp.get("/exports/sdtm")
@roles_required(*sdtm.READERS)
def downloads() -> str:
    actor, cut = require_actor(), utcnow().replace(microsecond=0)
    scope = sdtm.scope_for(actor)
    counts = {name: len(sdtm.build(name, scope, cut=cut).records) for name in sdtm.DATASETS}
    return render_template("exchange/sdtm_downloads.html", cut=cut, cut_param=sdtm.iso8601(cut) + "Z",
                           scope=scope, counts=counts, datasets=sdtm.DATASETS, ig_version=sdtm.IG_VERSION)
