"""OpenID Connect / OAuth 2.0 on Authlib's server classes. Protocol logic lives in Authlib's
grants and endpoints; what they leave to us (storage, keys, claims, sessions) is here."""
