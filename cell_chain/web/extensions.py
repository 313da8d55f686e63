"""Unbound Flask extensions, bound to the app in `create_app`."""
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

from cell_chain.web.api import Api

migrate = Migrate()
csrf = CSRFProtect()
api = Api()
