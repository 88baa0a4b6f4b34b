"""R19 and issue 17 section 6: passkeys (WebAuthn) as a second factor and for passwordless
sign-in, with every refusal tested on real signatures (``tests.authenticator``); the account
centre's second factors page (step-up removal, recovery codes). The test app's issuer is
http://localhost: rpId ``localhost``, origin ``http://localhost``."""

from __future__ import annotations

import json

import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idp.errors import AuthenticationFailed, Conflict, Forbidden, InvalidInput, NotFound
from idp.extensions import db
from idp.models import Account, OutboxMessage, Passkey, SsoSession
from idp.services import accounts, audit, passkeys, second_factors, totp
from tests import oidc_flow as flow
from tests.authenticator import Authenticator
from tests.sql import Statements

ORIGIN = "http://localhost"


@pytest.fixture
def owner(ctx, make):
    return make.company("acme")


@pytest.fixture
def alice(owner, make):
    return make.staff(owner, "alice", email="alice@acme.example")


@pytest.fixture
def bob(owner, make):
    return make.staff(owner, "bob", email="bob@acme.example")


def register(account: Account, device: Authenticator, name: str = "My phone") -> Passkey:
    ceremony = passkeys.begin_registration(account)
    return passkeys.finish_registration(account, ceremony.id, device.create(ceremony.options), name)


def emails(kind: str) -> list[OutboxMessage]:
    db.session.expire_all()
    return db.session.query(OutboxMessage).filter_by(kind=kind).all()


def fresh(account: Account) -> Account:
    db.session.expire_all()
    return db.session.get(Account, account.id)


# --- the ceremonies, below the pages ---------------------------------------------------------


def test_r19_a_registered_passkey_signs_in_without_a_password(alice):
    device = Authenticator(ORIGIN)
    passkey = register(alice, device)
    assert passkey.name == "My phone" and passkey.amr == "hwk"
    assert [e.text_body for e in emails("second_factor_added")][0].count("My phone") == 1
    assert "account.passkey_added" in [e.action for e in audit.events_for(alice.company_id)]

    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    assert ceremony.options["userVerification"] == "required"
    assert ceremony.options["allowCredentials"] == []  # discoverable: no account named
    account, amr = passkeys.sign_in(ceremony.id, device.get(ceremony.options))
    assert account.id == alice.id
    assert amr == ["hwk", "user", "mfa"]  # RFC 8176; see passkeys.amr for why
    assert db.session.get(Passkey, passkey.id).sign_count == 1


def test_r19_a_synced_passkey_is_a_software_key(alice):
    device = Authenticator(ORIGIN, synced=True)
    register(alice, device)
    ceremony = passkeys.begin_authentication(passkeys.SECOND_FACTOR, alice)
    assert passkeys.second_factor(alice, ceremony.id, device.get(ceremony.options)) == [
        "pwd",
        "swk",
        "mfa",
    ]


def test_r19_a_challenge_signed_is_not_the_one_asked_refused(alice):
    device = Authenticator(ORIGIN)
    register(alice, device)
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    other = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    forged = device.get(ceremony.options, challenge=other.options["challenge"])
    with pytest.raises(AuthenticationFailed):
        passkeys.sign_in(ceremony.id, forged)


def test_r19_a_challenge_works_once_replay_refused(alice):
    device = Authenticator(ORIGIN)
    register(alice, device)
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    answer = device.get(ceremony.options)
    passkeys.sign_in(ceremony.id, answer)
    with pytest.raises(AuthenticationFailed, match="expired or was already used"):
        passkeys.sign_in(ceremony.id, answer)
    # A new signature over the used challenge (its counter risen): the challenge alone refuses.
    with pytest.raises(AuthenticationFailed, match="expired or was already used"):
        passkeys.sign_in(ceremony.id, device.get(ceremony.options))


def test_r19_a_registration_challenge_works_once(alice):
    device = Authenticator(ORIGIN)
    ceremony = passkeys.begin_registration(alice)
    answer = device.create(ceremony.options)
    passkeys.finish_registration(alice, ceremony.id, answer, "one")
    with pytest.raises(AuthenticationFailed):
        passkeys.finish_registration(alice, ceremony.id, answer, "two")
    assert len(passkeys.list_for(alice)) == 1


def test_r19_an_unknown_or_expired_ceremony_refused(alice):
    device = Authenticator(ORIGIN)
    register(alice, device)
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    answer = device.get(ceremony.options)
    with pytest.raises(AuthenticationFailed):
        passkeys.sign_in("x" * 32, answer)
    from idp.kv import kv

    kv().delete(f"webauthn:{ceremony.id}")  # what its expiry does
    with pytest.raises(AuthenticationFailed):
        passkeys.sign_in(ceremony.id, answer)


def test_r19_a_ceremony_of_another_purpose_refused(alice):
    """A step-up challenge cannot sign in, nor a second-factor one finish a passwordless one."""
    device = Authenticator(ORIGIN)
    register(alice, device)
    step_up = passkeys.begin_authentication(passkeys.STEP_UP, alice)
    with pytest.raises(AuthenticationFailed):
        passkeys.sign_in(step_up.id, device.get(step_up.options))
    second = passkeys.begin_authentication(passkeys.SECOND_FACTOR, alice)
    with pytest.raises(AuthenticationFailed):  # the same account, another purpose
        passkeys.accept(second.id, device.get(second.options), passkeys.STEP_UP, alice)


def test_r19_an_unknown_credential_refused(alice):
    register(alice, Authenticator(ORIGIN))
    stranger = Authenticator(ORIGIN)
    stranger.create(passkeys.begin_registration(alice).options)  # never finished: not kept
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    with pytest.raises(AuthenticationFailed):
        passkeys.sign_in(ceremony.id, stranger.get(ceremony.options))


def test_r19_another_accounts_passkey_refused_as_second_factor(alice, bob):
    """bob passed the password step; alice's passkey must not be his second factor."""
    alice_device, bob_device = Authenticator(ORIGIN), Authenticator(ORIGIN)
    register(alice, alice_device)
    register(bob, bob_device)
    ceremony = passkeys.begin_authentication(passkeys.SECOND_FACTOR, bob)
    answer = alice_device.get(ceremony.options, credential=alice_device.credentials[0])
    with pytest.raises(AuthenticationFailed, match="not registered for this account"):
        passkeys.second_factor(bob, ceremony.id, answer)
    ceremony = passkeys.begin_authentication(passkeys.SECOND_FACTOR, bob)
    assert passkeys.second_factor(bob, ceremony.id, bob_device.get(ceremony.options))


def test_r19_a_user_handle_of_another_account_refused(alice, bob):
    device = Authenticator(ORIGIN)
    register(alice, device)
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    forged = device.get(ceremony.options, user_handle=passkeys.user_handle(bob))
    with pytest.raises(AuthenticationFailed):
        passkeys.sign_in(ceremony.id, forged)


def test_r19_another_origin_refused(alice):
    device = Authenticator(ORIGIN)
    register(alice, device)
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    with pytest.raises(AuthenticationFailed):
        passkeys.sign_in(ceremony.id, device.get(ceremony.options, origin="https://evil.example"))
    phished = Authenticator("https://evil.example")
    ceremony = passkeys.begin_registration(alice)
    with pytest.raises(InvalidInput):
        passkeys.finish_registration(alice, ceremony.id, phished.create(ceremony.options), "x")


def test_r19_a_sign_counter_that_does_not_rise_refused(alice):
    """A cloned authenticator repeats a counter the original already used."""
    device = Authenticator(ORIGIN)
    register(alice, device)
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    passkeys.sign_in(ceremony.id, device.get(ceremony.options, sign_count=5))
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    with pytest.raises(AuthenticationFailed):
        passkeys.sign_in(ceremony.id, device.get(ceremony.options, sign_count=5))


def test_r19_passwordless_needs_user_verification(alice):
    device = Authenticator(ORIGIN, user_verifying=False)
    register(alice, device)  # fine as a second factor
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    with pytest.raises(AuthenticationFailed):
        passkeys.sign_in(ceremony.id, device.get(ceremony.options))
    ceremony = passkeys.begin_authentication(passkeys.SECOND_FACTOR, alice)
    assert passkeys.second_factor(alice, ceremony.id, device.get(ceremony.options))


def test_r19_a_credential_id_is_registered_once_across_accounts(alice, bob):
    device = Authenticator(ORIGIN)
    register(alice, device)
    ceremony = passkeys.begin_registration(bob)
    again = device.create(ceremony.options, reuse=device.credentials[0])
    with pytest.raises(Conflict):
        passkeys.finish_registration(bob, ceremony.id, again, "copy")
    assert passkeys.list_for(bob) == []


def test_r4_r5_r13_passwordless_refuses_who_may_not_sign_in(owner, alice, make):
    """The same refusals, with the same messages, as with a password."""
    device = Authenticator(ORIGIN)
    register(alice, device)
    accounts.disable_sub_account(owner, alice)
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    with pytest.raises(accounts.AccountDisabled) as refused:
        passkeys.sign_in(ceremony.id, device.get(ceremony.options))
    with pytest.raises(accounts.AccountDisabled) as by_password:
        accounts.authenticate("acme:alice", make.PASSWORD)
    assert str(refused.value.message) == str(by_password.value.message)

    from idp.services import registration

    pending = registration.register_company("newshop", email="o@new.example", password="pw 123456")
    register(pending, device)
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    with pytest.raises(accounts.AccountNotActivated):
        passkeys.sign_in(ceremony.id, device.get(ceremony.options, device.credentials[1]))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    answer=st.one_of(
        st.text(max_size=300),
        st.dictionaries(st.text(max_size=10), st.text(max_size=20)).map(json.dumps),
        st.builds(
            lambda raw, body: json.dumps({"id": raw, "rawId": raw, "type": "public-key", **body}),
            st.text(max_size=40),
            st.dictionaries(st.sampled_from(["response", "clientExtensionResults"]), st.just({})),
        ),
    )
)
def test_r19_any_garbage_answer_is_a_refusal_never_an_error(alice, answer):
    ceremony = passkeys.begin_authentication(passkeys.PASSWORDLESS)
    with pytest.raises(AuthenticationFailed):
        passkeys.sign_in(ceremony.id, answer)
    ceremony = passkeys.begin_registration(alice)
    with pytest.raises((InvalidInput, AuthenticationFailed)):
        passkeys.finish_registration(alice, ceremony.id, answer, "x")


def test_r19_names_rename_and_other_accounts_passkeys_not_found(alice, bob):
    passkey = register(alice, Authenticator(ORIGIN))
    with pytest.raises(InvalidInput):
        passkeys.rename(alice, passkey.public_id, "  ")
    with pytest.raises(InvalidInput):
        passkeys.rename(alice, passkey.public_id, "x" * 61)
    passkeys.rename(alice, passkey.public_id, "Work laptop")
    assert passkeys.get_own(alice, passkey.public_id).name == "Work laptop"
    with pytest.raises(NotFound):
        passkeys.rename(bob, passkey.public_id, "mine now")
    with pytest.raises(NotFound):
        second_factors.remove_passkey(bob, passkey.public_id, second_factors.Proof("x"))


# --- step-up, removal, the company's requirement ------------------------------------------------


def proof_by_passkey(account, device, password) -> second_factors.Proof:
    ceremony = passkeys.begin_authentication(passkeys.STEP_UP, account)
    return second_factors.Proof(
        password=password, ceremony_id=ceremony.id, assertion=device.get(ceremony.options)
    )


def test_r19_removing_a_passkey_needs_the_password_and_a_factor(alice, make):
    device = Authenticator(ORIGIN)
    passkey = register(alice, device)
    with pytest.raises(Forbidden):  # the password alone is not enough
        second_factors.remove_passkey(alice, passkey.public_id, second_factors.Proof(make.PASSWORD))
    with pytest.raises(Forbidden):  # a passkey without the password neither
        second_factors.remove_passkey(
            alice, passkey.public_id, proof_by_passkey(alice, device, "wrong password")
        )
    second_factors.remove_passkey(
        alice, passkey.public_id, proof_by_passkey(alice, device, make.PASSWORD)
    )
    assert passkeys.list_for(alice) == []
    removed = emails("second_factor_removed")
    assert len(removed) == 1 and "My phone" in removed[0].text_body
    assert "account.passkey_removed" in [e.action for e in audit.events_for(alice.company_id)]


def test_r22_the_removal_notice_ignores_opt_outs(alice, make):
    from idp.services import outbox

    assert "second_factor_removed" in outbox.SECURITY_KINDS
    alice.email_opt_out = ["second_factor_removed"]
    db.session.commit()
    device = Authenticator(ORIGIN)
    passkey = register(alice, device)
    second_factors.remove_passkey(
        alice, passkey.public_id, proof_by_passkey(alice, device, make.PASSWORD)
    )
    assert len(emails("second_factor_removed")) == 1


def test_r19_required_second_factor_accepts_a_passkey_and_keeps_one(owner, alice, make):
    totp.set_required_for_staff(owner, True)
    device = Authenticator(ORIGIN)
    passkey = register(alice, device)
    assert totp.is_required(alice) and second_factors.has_any(alice)
    with pytest.raises(Forbidden, match="requires a second factor"):
        second_factors.remove_passkey(
            alice, passkey.public_id, proof_by_passkey(alice, device, make.PASSWORD)
        )
    assert len(passkeys.list_for(alice)) == 1


def test_r19_two_removals_at_once_keep_the_required_second_factor(ctx, owner, alice, make):
    """Found in review: two removals of the last two passkeys at once (two tabs) each counted
    the other still there, and both went: a company's required second factor was left at none.
    Each removal takes the account's row lock first, so the second one counts what is left."""
    import threading

    totp.set_required_for_staff(owner, True)
    ids = [register(alice, Authenticator(ORIGIN), name).public_id for name in ("one", "two")]
    codes = totp.new_recovery_codes(alice)
    db.session.commit()
    alice_id = alice.id
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def remove(i: int) -> None:
        with ctx.app_context():
            account = db.session.get(Account, alice_id)
            barrier.wait()
            try:
                proof = second_factors.Proof(password=make.PASSWORD, code=codes[i])
                second_factors.remove_passkey(account, ids[i], proof)
                outcomes.append("removed")
            except Forbidden as exc:
                outcomes.append("refused: " + str(exc.message))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=remove, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == [
        "refused: Your company requires a second factor for all staff; add another one first",
        "removed",
    ]
    assert db.session.query(Passkey).filter_by(account_id=alice_id).count() == 1


def test_r19_totp_removed_with_a_passkey_as_proof_recovery_codes_stay(alice, make):
    secret = totp.begin_enrolment(alice).secret
    codes = totp.confirm_enrolment(alice, secret, pyotp.TOTP(secret).now())
    device = Authenticator(ORIGIN)
    register(alice, device)
    second_factors.remove_totp(alice, proof_by_passkey(alice, device, make.PASSWORD))
    assert not totp.is_enrolled(fresh(alice))
    assert totp.unused_recovery_codes(alice) == len(codes)  # they stand in for the passkey now
    assert totp.verify(alice, codes[0]) == "recovery"


def test_r19_new_recovery_codes_void_the_old(alice, make):
    secret = totp.begin_enrolment(alice).secret
    old = totp.confirm_enrolment(alice, secret, pyotp.TOTP(secret).now())
    new = second_factors.regenerate_recovery_codes(
        alice, second_factors.Proof(make.PASSWORD, code=old[0])
    )
    assert set(new).isdisjoint(old) and len(new) == len(old)
    with pytest.raises(AuthenticationFailed):
        totp.verify(alice, old[1])
    assert totp.verify(alice, new[0]) == "recovery"


def test_r4_r16_hand_over_and_owner_reset_forget_passkeys(owner, alice, bob, make):
    register(alice, Authenticator(ORIGIN))
    register(bob, Authenticator(ORIGIN))
    totp.reset_totp(owner, alice)  # R16: a lost phone; passkeys alone count as a factor
    assert passkeys.list_for(alice) == []
    accounts.update_sub_account(owner, bob, name="erin", email="erin@acme.example")
    assert passkeys.list_for(fresh(bob)) == []  # R4: erin must not sign in with bob's passkey


# --- the pages --------------------------------------------------------------------------------


def csrf_of(web, path: str) -> str:
    return flow.form_fields(web.get(path).get_data(as_text=True))["csrf_token"]


def options(web, path: str, token: str) -> dict:
    answer = web.post(path, headers={"X-CSRFToken": token})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def test_r19_passkey_as_second_factor_sets_amr_and_acr_in_the_id_token(ctx, web, alice, make):
    device = Authenticator(ORIGIN)
    register(alice, device)
    rp = flow.register()
    verifier, challenge = flow.pkce()
    sent = flow.authorize(web, rp, challenge)
    password_ok = flow.sign_in(web, "acme:alice", make.PASSWORD, flow.location(sent))
    assert flow.location(password_ok) == "/login/2fa"
    page = web.get("/login/2fa").get_data(as_text=True)
    assert 'data-passkey="authenticate"' in page and 'name="code"' not in page
    token = flow.form_fields(page)["csrf_token"]
    answer = device.get(options(web, "/login/2fa/passkey", token))
    done = web.post("/login/2fa", data={"csrf_token": token, "assertion": answer})
    assert done.status_code == 302, done.get_data(as_text=True)
    code = flow.code_from(web.get(flow.location(done)), rp)
    id_token = flow.jwt_payload(flow.exchange(web, rp, code, verifier).get_json()["id_token"])
    assert id_token["amr"] == ["pwd", "hwk", "mfa"] and id_token["acr"] == "2"


def test_r19_passwordless_sign_in_through_the_login_page(ctx, web, alice):
    device = Authenticator(ORIGIN)
    register(alice, device)
    page = web.get("/login?next=/account").get_data(as_text=True)
    assert "Sign in with a passkey" in page
    fields = flow.form_fields(page)
    answer = device.get(options(web, "/login/passkey/options", fields["csrf_token"]))
    done = web.post("/login/passkey", data={**fields, "assertion": answer})
    assert done.status_code == 302 and flow.location(done) == "/account"
    session = db.session.query(SsoSession).one()
    assert session.amr == ["hwk", "user", "mfa"] and session.acr == "2"
    replayed = web.post("/login/passkey", data={**fields, "assertion": answer})
    assert replayed.status_code == 401 and 'role="alert"' in replayed.get_data(as_text=True)


def test_r4_passwordless_page_says_why_a_departed_account_is_refused(ctx, web, owner, alice):
    device = Authenticator(ORIGIN)
    register(alice, device)
    accounts.disable_sub_account(owner, alice)
    fields = flow.form_fields(web.get("/login").get_data(as_text=True))
    answer = device.get(options(web, "/login/passkey/options", fields["csrf_token"]))
    refused = web.post("/login/passkey", data={**fields, "assertion": answer})
    assert refused.status_code == 403
    assert "disabled by the company" in refused.get_data(as_text=True)
    assert db.session.query(SsoSession).count() == 0


def test_r19_a_staff_member_with_only_a_passkey_is_not_sent_to_enrol(web, owner, alice, make):
    totp.set_required_for_staff(owner, True)
    register(alice, Authenticator(ORIGIN))
    assert flow.location(flow.sign_in(web, "acme:alice", make.PASSWORD)) == "/login/2fa"
    assert web.get("/login/2fa").status_code == 200  # not the authenticator app's set-up


def test_r19_security_page_adds_renames_and_removes_a_passkey(web, alice, make):
    assert flow.sign_in(web, "acme:alice", make.PASSWORD).status_code == 302
    assert flow.location(web.get("/account/2fa")).endswith("/account/security")
    token = csrf_of(web, "/account/security")
    device = Authenticator(ORIGIN)
    credential = device.create(options(web, "/account/security/passkeys/options", token))
    unnamed = web.post(
        "/account/security/passkeys",
        data={"csrf_token": token, "credential": credential, "password": make.PASSWORD},
    )
    assert unnamed.status_code == 400 and "Give the passkey a name" in unnamed.get_data(True)
    credential = device.create(options(web, "/account/security/passkeys/options", token))
    added = web.post(
        "/account/security/passkeys",
        data={
            "csrf_token": token,
            "credential": credential,
            "name": "Laptop",
            "password": make.PASSWORD,
        },
    )
    assert added.status_code == 302
    (passkey,) = passkeys.list_for(alice)
    renamed = web.post(
        f"/account/security/passkeys/{passkey.public_id}/rename",
        data={"csrf_token": token, "name": "Work laptop"},
    )
    assert renamed.status_code == 302 and "Work laptop" in web.get("/account/security").text
    wrong = web.post(
        f"/account/security/passkeys/{passkey.public_id}/remove",
        data={"csrf_token": token, "password": "not it"},
    )
    assert wrong.status_code == 400 and "password is incorrect" in wrong.get_data(True)
    step_up = options(web, "/account/security/step-up", token)
    removed = web.post(
        f"/account/security/passkeys/{passkey.public_id}/remove",
        data={"csrf_token": token, "password": make.PASSWORD, "assertion": device.get(step_up)},
    )
    assert removed.status_code == 302 and passkeys.list_for(alice) == []


@pytest.mark.parametrize("password", ["", "not it"])
def test_issue17_adding_a_passkey_needs_the_current_password(web, alice, make, password):
    """A stolen session cookie alone must not plant a passkey (it would sign in without the
    password for good): without the right password nothing is kept and no notice is sent, the
    page says why on the password field."""
    assert flow.sign_in(web, "acme:alice", make.PASSWORD).status_code == 302
    token = csrf_of(web, "/account/security")
    credential = Authenticator(ORIGIN).create(
        options(web, "/account/security/passkeys/options", token)
    )
    refused = web.post(
        "/account/security/passkeys",
        data={"csrf_token": token, "credential": credential, "name": "Thief", "password": password},
    )
    assert refused.status_code == 400
    assert "The current password is incorrect" in refused.text
    assert 'id="f-passkey-password" name="password"' in refused.text
    assert 'aria-invalid="true" autofocus' in refused.text
    assert passkeys.list_for(alice) == [] and emails("second_factor_added") == []


def test_issue17_password_guesses_when_adding_a_passkey_are_throttled(web, alice, make):
    """The add form is no password oracle either: it counts with the other step-ups."""
    assert flow.sign_in(web, "acme:alice", make.PASSWORD).status_code == 302
    token = csrf_of(web, "/account/security")
    device = Authenticator(ORIGIN)

    def add(password):
        credential = device.create(options(web, "/account/security/passkeys/options", token))
        fields = {"csrf_token": token, "credential": credential, "name": "Mine"}
        return web.post("/account/security/passkeys", data={**fields, "password": password})

    answers = [add("guess").text for _ in range(4)]
    assert "password is incorrect" in answers[0] and "Too many failed" in answers[-1]
    held = add(make.PASSWORD)
    assert held.status_code == 400 and "password is incorrect" not in held.text
    assert passkeys.list_for(alice) == []


@pytest.mark.parametrize("password", ["", "not it"])
def test_issue17_turning_the_authenticator_app_on_needs_the_current_password(
    web, alice, make, password
):
    """A stolen session cookie must not put the thief's app (and its recovery codes) between
    the owner and the account: without the password the app stays off, nothing is sent, and
    the secret being set up stays (the right password then turns it on)."""
    assert flow.sign_in(web, "acme:alice", make.PASSWORD).status_code == 302
    page = web.get("/account/security/totp")
    secret = __import__("re").search(r"<code>([A-Z2-7]+)</code>", page.text).group(1)
    fields = {**flow.form_fields(page.text), "code": pyotp.TOTP(secret).now()}
    refused = web.post("/account/security/totp", data={**fields, "password": password})
    assert refused.status_code == 400 and "The current password is incorrect" in refused.text
    assert 'aria-invalid="true" autofocus' in refused.text and secret in refused.text
    assert not totp.is_enrolled(fresh(alice)) and emails("second_factor_added") == []
    done = web.post("/account/security/totp", data={**fields, "password": make.PASSWORD})
    assert done.status_code == 200 and totp.is_enrolled(fresh(alice))


def test_r19_security_page_sets_up_and_turns_off_the_authenticator_app(web, alice, make):
    assert flow.sign_in(web, "acme:alice", make.PASSWORD).status_code == 302
    page = web.get("/account/security/totp")
    secret = __import__("re").search(r"<code>([A-Z2-7]+)</code>", page.text).group(1)
    fields = {**flow.form_fields(page.text), "password": make.PASSWORD}
    done = web.post("/account/security/totp", data={**fields, "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and "recovery" in done.text.lower()
    assert totp.is_enrolled(fresh(alice))
    no_code = web.post("/account/security/totp/remove", data={**fields, "password": make.PASSWORD})
    assert no_code.status_code == 400 and 'role="alert"' in no_code.text
    codes = web.post("/account/security/recovery-codes", data={**fields, "password": make.PASSWORD})
    assert codes.status_code == 400
    assert totp.is_enrolled(fresh(alice))


def test_r19_forced_enrolment_accepts_a_passkey_then_asks_for_it(web, owner, alice, make):
    """The owner requires a second factor; a staff member with none makes a passkey instead of
    setting up an app, and the second step then asks for that passkey."""
    totp.set_required_for_staff(owner, True)
    assert flow.location(flow.sign_in(web, "acme:alice", make.PASSWORD)) == "/login/2fa"
    assert flow.location(web.get("/login/2fa")) == "/login/2fa/enrol"
    page = web.get("/login/2fa/enrol").text
    assert "Or use a passkey" in page
    token = flow.form_fields(page)["csrf_token"]
    device = Authenticator(ORIGIN)
    credential = device.create(options(web, "/login/2fa/enrol/passkey/options", token))
    made = web.post(
        "/login/2fa/enrol/passkey",
        data={"csrf_token": token, "credential": credential, "name": "Phone"},
    )
    assert flow.location(made) == "/login/2fa" and flow.sso_cookie(web) is None
    answer = device.get(options(web, "/login/2fa/passkey", token))
    done = web.post("/login/2fa", data={"csrf_token": token, "assertion": answer})
    assert done.status_code == 302 and flow.sso_cookie(web) is not None


def test_r19_a_passkey_counts_as_a_second_factor_in_python_and_sql(owner, alice, bob, make):
    """The console's filter and count (SQL) agree with the sign-in's rule (Python)."""
    from idp.services import companies

    carol = make.staff(owner, "carol")
    register(alice, Authenticator(ORIGIN))
    secret = totp.begin_enrolment(bob).secret
    totp.confirm_enrolment(bob, secret, pyotp.TOTP(secret).now())
    with_one = {a.name for a in accounts.list_staff(owner, second_factor=True)}
    without = {a.name for a in accounts.list_staff(owner, second_factor=False)}
    assert with_one == {a.name for a in (alice, bob, carol) if second_factors.has_any(a)}
    assert with_one == {"alice", "bob"} and without == {"carol"}
    assert companies.staff_without_second_factor(owner) == 1


def with_its_row(account: Account) -> Account:
    """The account as the password sign-in loads it: whether it holds a passkey read with the
    row (``passkeys.with_passkey_answer``)."""
    db.session.expire_all()
    return accounts.find_by_login_name(account.login_name, passkeys.with_passkey_answer())


def holds_passkey(account: Account) -> bool:
    """``passkeys.has_passkey`` on an account loaded with its answer: no query, and the
    table's truth."""
    with Statements() as sql:
        answer = passkeys.has_passkey(account)
    assert sql.here == []
    assert answer == (db.session.query(Passkey).filter_by(account_id=account.id).count() > 0)
    return answer


def test_r19_the_sign_in_reads_whether_an_account_holds_a_passkey_with_its_row(
    owner, alice, bob, make
):
    """R19's check after the password (``totp.is_required``) asks nothing more of the database:
    the answer comes with the account's row, and it is the table's truth after every way a
    passkey is added (the forced enrolment, the account centre) or removed (one, R16's reset,
    R4's hand-over)."""
    assert holds_passkey(with_its_row(alice)) is False
    device, other = Authenticator(ORIGIN), Authenticator(ORIGIN)
    first = register(alice, device)  # the forced enrolment's path
    assert holds_passkey(with_its_row(alice)) is True
    ceremony = passkeys.begin_registration(alice)
    second = second_factors.add_passkey(
        alice, make.PASSWORD, ceremony.id, other.create(ceremony.options), "Laptop"
    )
    assert holds_passkey(with_its_row(alice)) is True
    proof = proof_by_passkey(alice, device, make.PASSWORD)
    second_factors.remove_passkey(alice, first.public_id, proof)
    assert holds_passkey(with_its_row(alice)) is True  # the laptop's is left
    proof = proof_by_passkey(alice, other, make.PASSWORD)
    second_factors.remove_passkey(alice, second.public_id, proof)
    assert holds_passkey(with_its_row(alice)) is False

    register(alice, Authenticator(ORIGIN))
    totp.reset_totp(owner, alice)  # R16
    assert holds_passkey(with_its_row(alice)) is False
    register(bob, Authenticator(ORIGIN))
    accounts.update_sub_account(owner, bob, name="erin", email="erin@acme.example")  # R4
    assert holds_passkey(with_its_row(fresh(bob))) is False


def test_r19_an_answer_read_with_the_row_follows_changes_made_through_that_row(alice):
    """Within one transaction, the account object the answer came with says what its passkeys
    are now, not what they were when it was loaded (removals run in the caller's transaction;
    a registration's commits)."""
    register(alice, Authenticator(ORIGIN))
    register(alice, Authenticator(ORIGIN))
    loaded = with_its_row(alice)
    first, second = passkeys.list_for(loaded)
    passkeys.remove(loaded, first)
    assert passkeys.has_passkey(loaded) is True
    passkeys.remove(loaded, second)
    assert passkeys.has_passkey(loaded) is False
    db.session.rollback()

    loaded = with_its_row(alice)
    assert holds_passkey(loaded) is True
    passkeys.delete_all(loaded)  # R4's hand-over and R16's reset
    assert passkeys.has_passkey(loaded) is False


def test_r19_the_rp_id_setting_must_cover_the_issuer(tmp_path):
    from idp.settings import Settings, SettingsError

    env = {
        "IDP_ISSUER": "https://id.example.com",
        "IDP_ENV": "test",
        "IDP_INSTANCE_PATH": str(tmp_path),
    }
    assert Settings.from_env(env).webauthn_rp_id == ""
    assert Settings.from_env({**env, "IDP_WEBAUTHN_RP_ID": "Example.com"}).webauthn_rp_id == (
        "example.com"
    )
    with pytest.raises(SettingsError, match="IDP_WEBAUTHN_RP_ID"):
        Settings.from_env({**env, "IDP_WEBAUTHN_RP_ID": "evil.example"})
    with pytest.raises(SettingsError):
        Settings.from_env({**env, "IDP_WEBAUTHN_RP_ID": "ample.com"})


def test_r19_step_up_guesses_are_throttled_like_sign_in(web, alice, make):
    """A stolen session cookie must not be a password oracle: wrong step-ups slow down."""
    assert flow.sign_in(web, "acme:alice", make.PASSWORD).status_code == 302
    device = Authenticator(ORIGIN)
    passkey = register(alice, device)
    token = csrf_of(web, "/account/security")
    path = f"/account/security/passkeys/{passkey.public_id}/remove"
    for _ in range(4):
        wrong = web.post(path, data={"csrf_token": token, "password": "guess"})
        assert wrong.status_code == 400
    answer = device.get(options(web, "/account/security/step-up", token))
    held = web.post(
        path, data={"csrf_token": token, "password": make.PASSWORD, "assertion": answer}
    )
    assert held.status_code == 400 and "password is incorrect" not in held.text
    assert len(passkeys.list_for(alice)) == 1


def test_r19_the_admin_api_counts_a_passkey_as_a_second_factor(ctx, owner, alice, web):
    """The staff answer's ``second_factor`` and its filter agree with the console: an app or a
    passkey (before, a staff member with only a passkey was listed as having none)."""
    from tests.admin_api import Api, client_token, company_client

    api = Api(web, client_token(web, company_client(owner)))

    def staff(path: str) -> dict:
        response = api.get(path)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    assert staff(f"/staff/{alice.public_id}")["second_factor"] is False
    register(alice, Authenticator(ORIGIN))
    assert staff(f"/staff/{alice.public_id}")["second_factor"] is True
    listed = staff("/staff?second_factor=true")["items"]
    assert [item["id"] for item in listed] == [alice.public_id]
