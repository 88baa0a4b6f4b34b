"""The WSGI entry point for production servers (``deploy/granian_serve.py``; any WSGI server)."""

from idp.app import create_app

app = create_app()
