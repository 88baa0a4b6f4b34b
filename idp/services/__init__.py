"""The rules of SPEC.md, one rule in one place. No ``flask.request`` or session in here."""
