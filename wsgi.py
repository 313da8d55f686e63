"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi …`."""
from cell_chain import create_app

app = create_app()
