"""The authorization endpoint and discovery (the machine endpoints, token, introspection,
revocation, userinfo and JWKS, are answered by ``idp.web.direct``). Errors are a page, or a
redirect to the client when its redirect URI is known and registered; an unregistered redirect
URI is never redirected to."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import Blueprint, jsonify, redirect, render_template, request, url_for

from idp import i18n
from idp.defaults import AUTHORIZE_PARAM_LIMITS
from idp.errors import InvalidInput
from idp.extensions import csrf
from idp.models.base import utcnow
from idp.oauth import clients as client_registry
from idp.oauth import consents, store_context
from idp.oauth.claims import account_facts
from idp.oauth.config import SCOPES, SIGNING_ALGS
from idp.oauth.server import authorization_server
from idp.oauth.tokens import Principal, issuer
from idp.services import authz, privacy
from idp.web import answers
from idp.web.sso import current_session

bp = Blueprint("oauth", __name__)

ERROR_PAGE = "signin/oauth_error.html"


def _without(url_query: str, *names: str) -> str:
    pairs = [(k, v) for k, v in parse_qsl(url_query, keep_blank_values=True) if k not in names]
    return urlencode(pairs)


def _login_redirect(drop_prompt: bool):
    """Send the browser to sign in, coming back to this same request (``prompt=login`` and
    ``max_age`` are satisfied by the fresh sign-in, so they are not repeated)."""
    query = (
        _without(request.query_string.decode(), "prompt", "max_age")
        if drop_prompt
        else request.query_string.decode()
    )
    back = url_for("oauth.authorize") + ("?" + query if query else "")
    params = {"next": back}
    if hint := request.args.get("login_hint"):
        params["login_hint"] = hint[:80]
    if locales := request.args.get("ui_locales"):
        params["ui_locales"] = locales[:40]
    return redirect(url_for("signin.login") + "?" + urlencode(params))


def _error_page(error: OAuth2Error, status: int = 400):
    """An authorization request that cannot be sent back to its app: a page for the person."""
    return answers.flask(
        answers.Kind.PAGE,
        status,
        error.error,
        error.description,
        template=ERROR_PAGE,
        error=error.error,
        description=error.description,
    )


def _principal(session) -> Principal | None:
    if session is None:
        return None
    return Principal.signed_in(account_facts(session.account_id), session)


def _overlong(names) -> str | None:
    """The first parameter among ``names`` longer than its limit, as a sentence."""
    for name in names:
        limit = AUTHORIZE_PARAM_LIMITS[name]
        if len(request.values.get(name) or "") > limit:
            return f"'{name}' is longer than {limit} characters"
    return None


# Checked before anything else: not echoed anywhere, not even in an error.
UNECHOED = ("state", "client_id", "redirect_uri", "response_type", "response_mode")


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize():
    server = authorization_server()
    if too_long := _overlong(UNECHOED):
        return _error_page(InvalidRequestError(too_long))
    session = current_session()
    principal = _principal(session)
    try:
        grant = server.get_consent_grant(end_user=principal)
    except OAuth2Error as error:
        if getattr(error, "redirect_uri", None):
            return server.handle_error_response(None, error)
        return _error_page(error)
    if too_long := _overlong(n for n in AUTHORIZE_PARAM_LIMITS if n not in UNECHOED):
        return server.handle_error_response(None, _redirecting(grant, "invalid_request", too_long))
    prompts = (request.values.get("prompt") or "").split()
    max_age = request.values.get("max_age")
    too_old = False
    if principal is not None and max_age is not None:
        try:
            too_old = (utcnow() - principal.auth_time).total_seconds() > int(max_age)
        except ValueError:
            return server.handle_error_response(
                None, _redirecting(grant, "invalid_request", "max_age must be a number")
            )
    if principal is None or grant.prompt == "login" or "login" in prompts or too_old:
        if "none" in prompts:
            return server.handle_error_response(
                None, _redirecting(grant, "login_required", "The user must sign in")
            )
        return _login_redirect(drop_prompt=principal is not None)
    account = account_facts(session.account_id)  # what this page needs of it, cached
    if account.must_change_password:
        return redirect(url_for("account.password", next=request.full_path))
    client = grant.client
    if not authz.may_use_app(account.kind, client):
        denied = _redirecting(grant, "access_denied", authz.CONSUMER_REFUSED)
        return render_template(
            "signin/consumer_refused.html",
            client=client,
            account=account,
            back=_error_location(grant, denied),
        ), 403
    try:  # R26/R27: which store this sign-in works in
        store = store_context.choose(
            account,
            client,
            requested=store_context.requested_store_id(request.values),
            current_id=session.active_store_id,
        )
    except InvalidInput as exc:
        return server.handle_error_response(
            None, _redirecting(grant, "invalid_request", exc.message)
        )
    except store_context.StoreRefused as exc:
        denied = _redirecting(grant, "access_denied", exc.message)
        if "none" in prompts or request.values.get("store") or request.values.get("claims"):
            return server.handle_error_response(None, denied)
        return render_template(
            "signin/store_refused.html",
            client=client,
            account=account,
            message=exc.message,
            back=_error_location(grant, denied),
        ), 403
    principal.at_store(store)
    scope = client.get_allowed_scope(grant.request.payload.scope)  # what the app may get
    if request.method == "POST" and "decision" in request.form:  # the consent form
        # The blueprint is exempt from CSRF (an app may POST an authorization request, OIDC
        # Core 3.1.2.1); a person's decision is not: a forged "allow" must not record consent.
        csrf.protect()
        if request.form.get("decision") != "allow":
            return server.create_authorization_response(grant_user=None, grant=grant)
        consents.save(client, account.id, scope)
    elif consents.is_needed(client, account.id, scope) or "consent" in prompts:
        if "none" in prompts:
            return server.handle_error_response(
                None, _redirecting(grant, "consent_required", "The user must approve this app")
            )
        level = session.account.privacy  # R21: what the app would be released
        return render_template(
            "signin/consent.html",
            client=client,
            account=account,
            tier=privacy.TIER_NAMES[client.tier],
            shown=privacy.shown_on_consent(level, client.tier, scope),
            level=privacy.LEVEL_LABELS.get(level, level),
        )
    return server.create_authorization_response(grant_user=principal, grant=grant)


def _redirecting(grant, error: str, description: str) -> OAuth2Error:
    err = OAuth2Error(
        description=description, redirect_uri=grant.redirect_uri, redirect_fragment=False
    )
    err.error = error
    err.state = grant.request.payload.state
    return err


def _error_location(grant, error: OAuth2Error) -> str:
    params = {"error": error.error, "error_description": error.description}
    if grant.request.payload.state:
        params["state"] = grant.request.payload.state
    parts = urlsplit(grant.redirect_uri)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


@bp.get("/.well-known/openid-configuration")
def discovery():
    base = issuer()
    return jsonify(
        {
            "issuer": base,
            "authorization_endpoint": f"{base}/oauth/authorize",
            "token_endpoint": f"{base}/oauth/token",
            "userinfo_endpoint": f"{base}/oauth/userinfo",
            "jwks_uri": f"{base}/oauth/jwks",
            "introspection_endpoint": f"{base}/oauth/introspect",
            "revocation_endpoint": f"{base}/oauth/revoke",
            "end_session_endpoint": f"{base}/oauth/logout",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(client_registry.GRANTS),
            "token_exchange_subject_token_types_supported": [
                "urn:ietf:params:oauth:token-type:access_token"
            ],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": list(SIGNING_ALGS),
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "revocation_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "amr",
                "sid",
                "at_hash",
                "name",
                "preferred_username",
                "gender",
                "email",
                "email_verified",
                "phone_number",
                "phone_number_verified",
                "company",
                "account_type",
                "roles",
                "permissions",
                "stores",
                "store",
                "marketplace",
                "groups",
                "muted",
            ],
            "prompt_values_supported": ["none", "login", "consent"],
            "ui_locales_supported": i18n.ui_locales_supported(),
            "claims_parameter_supported": True,
            "request_parameter_supported": False,
            "frontchannel_logout_supported": False,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
        }
    )
