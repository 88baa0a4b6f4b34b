"""The WSGI entry point for production servers: ``gunicorn idp.wsgi:app``."""

from idp.app import create_app

app = create_app()
