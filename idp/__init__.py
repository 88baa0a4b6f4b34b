"""Identity provider and single sign-on gateway for seller companies and their staff."""

from idp.app import create_app

__all__ = ["create_app"]
