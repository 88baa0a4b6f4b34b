"""R1: login names — company[:sub], Unicode, NFKC + case folding, display spelling kept."""

import pytest

from idp.errors import AuthenticationFailed, InvalidInput
from idp.services import accounts
from idp.services.names import parse_login_name, validate_company_name, validate_sub_name


def test_r1_fullwidth_colon_and_other_case_find_the_account(ctx, make):
    owner = make.company("acme")
    alice = make.staff(owner, "alice")
    assert accounts.find_by_login_name("ACME：Alice").id == alice.id
    assert accounts.find_by_login_name("acme:alice").id == alice.id
    assert accounts.find_by_login_name("Acme").id == owner.id
    assert accounts.find_by_login_name("acme:bob") is None


def test_r1_unicode_names_keep_their_display_spelling(ctx, make):
    owner = make.company("淘宝")
    xiaobao = make.staff(owner, "小宝")
    assert xiaobao.login_name == "淘宝:小宝"
    assert accounts.find_by_login_name("淘宝：小宝").id == xiaobao.id
    carol = make.staff(owner, "Carol")
    assert carol.login_name == "淘宝:Carol"
    assert accounts.find_by_login_name("淘宝:CAROL").id == carol.id


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "required"),
        ("a" * 31, "31 characters long; the most is 30"),
        ("12345", "all digits"),
        ("al:ice", "colon"),
        ("al：ice", "colon"),
        ("ali\x00ce", "control"),
        ("ali\u200bce", "invisible"),
        (" alice", "white space"),
        ("alice ", "white space"),
        ("main", "reserved"),
        ("MAIN", "reserved"),
    ],
)
def test_r1_bad_sub_names_are_refused_with_a_precise_message(name, message):
    with pytest.raises(InvalidInput) as err:
        validate_sub_name(name)
    assert message in err.value.message


def test_r1_thirty_characters_is_allowed():
    assert validate_sub_name("a" * 30) == "a" * 30
    assert validate_sub_name("１２３ab") == "１２３ab"  # not all digits


@pytest.mark.parametrize("name", ["", "9999", "ac:me", " acme", "x" * 31, "ac\nme"])
def test_r1_bad_company_names_are_refused(name):
    with pytest.raises(InvalidInput):
        validate_company_name(name)


def test_r1_bad_sub_name_refused_by_the_service_and_nothing_written(ctx, make):
    owner = make.company("acme")
    with pytest.raises(InvalidInput, match="all digits"):
        make.staff(owner, "007")
    assert accounts.list_staff(owner) == []
    assert owner.company.sub_account_count == 0


def test_r1_names_differing_only_in_case_or_width_are_the_same(ctx, make):
    owner = make.company("acme")
    make.staff(owner, "alice")
    from idp.errors import Conflict

    with pytest.raises(Conflict, match="taken"):
        make.staff(owner, "ＡＬＩＣＥ")  # full-width capitals


@pytest.mark.parametrize("text", ["", "   ", ":alice", "acme:", "acme:a:b"])
def test_r1_malformed_login_is_refused(text):
    with pytest.raises(InvalidInput):
        parse_login_name(text)


def test_r1_unknown_name_and_wrong_password_get_the_same_answer(ctx, make):
    owner = make.company("acme")
    make.staff(owner, "alice")
    with pytest.raises(AuthenticationFailed) as unknown:
        accounts.authenticate("acme:nobody", make.PASSWORD)
    with pytest.raises(AuthenticationFailed) as wrong:
        accounts.authenticate("acme:alice", "wrong password")
    with pytest.raises(AuthenticationFailed) as malformed:
        accounts.authenticate("acme:", "wrong password")
    assert unknown.value.message == wrong.value.message == malformed.value.message
    assert accounts.authenticate("ACME：ALICE", make.PASSWORD).name == "alice"
