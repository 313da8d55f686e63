"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi …`."""
import gc

from cell_chain import create_app

app = create_app()
# The app's own objects (routes, catalogues, mappings: about 240,000) live as long as the
# process. Frozen, they are left out of the cyclic garbage collector's passes, which otherwise
# walk them all on every full pass: a whole-trial download spends ~10 % less time.
gc.freeze()
