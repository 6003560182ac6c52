"""services.public_links, the one module the public pages use for their links and one-time
codes: tokens that only open for their purpose and secret (and those already e-mailed keep
opening), codes bound to their page and row, tries that parallel guesses cannot exceed, a code
used once, and contacts masked as each page shows them."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import threading
import time

import pytest
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer
from peewee import CharField, IntegerField, Model

from models import db
from services import public_links
from services.certificates import activation
from services.messaging import followup
from services.signing import codes, links

SECRET = "test-secret"
KIND = public_links.TokenKind("essai-v1")
TIMED = public_links.TokenKind("essai-date-v1", timed=True)


# --- tokens -----------------------------------------------------------------------------------

def tampered(token: str) -> str:
    """One character of the signature changed (not the last: its low bits are padding)."""
    index = len(token) - 5
    return token[:index] + ("A" if token[index] != "A" else "Q") + token[index + 1:]


def test_a_token_opens_only_with_its_secret_and_purpose():
    token = KIND.make(SECRET, {"r": 7, "n": "abc"})
    assert KIND.open(SECRET, token) == public_links.OpenedToken({"r": 7, "n": "abc"}, False)
    for secret, kind in ((SECRET, public_links.TokenKind("autre-v1")), ("autre", KIND)):
        with pytest.raises(public_links.BadToken):
            kind.open(secret, token)
    for broken in (token[:-2], tampered(token), "", "x.y"):
        with pytest.raises(public_links.BadToken):
            KIND.open(SECRET, broken)


def test_an_expired_token_still_says_what_it_was_for_but_a_forged_one_does_not():
    token = TIMED.make(SECRET, {"o": 3})
    assert TIMED.open(SECRET, token, max_age_seconds=60) == public_links.OpenedToken({"o": 3}, False)
    time.sleep(1.1)
    assert TIMED.open(SECRET, token, max_age_seconds=0) == public_links.OpenedToken({"o": 3}, True)
    with pytest.raises(public_links.BadToken):
        TIMED.open(SECRET, tampered(token), max_age_seconds=0)


def test_links_already_emailed_keep_opening():
    """The tokens are what the pages made before they shared this module, byte for byte."""
    signer = URLSafeSerializer(SECRET, salt="radesk-signature-v1",
                               signer_kwargs={"digest_method": hashlib.sha256})
    assert links.TOKENS.open(SECRET, signer.dumps({"r": 1, "n": "x"})).payload == {"r": 1, "n": "x"}
    assert links.TOKENS.make(SECRET, {"r": 1, "n": "x"}) == signer.dumps({"r": 1, "n": "x"})
    timed = URLSafeTimedSerializer(SECRET, salt="radesk-suivi-v1",
                                   signer_kwargs={"digest_method": hashlib.sha256})
    check = followup.read_token(SECRET, timed.dumps({"o": 42, "n": "y"}), 3600)
    assert check == followup.LinkCheck(42, False)


def test_link_secrets_are_random_and_stored_as_their_hash():
    first, second = public_links.new_secret(), public_links.new_secret()
    assert first != second and len(first) == 43 and public_links.plausible_secret(first)
    assert public_links.secret_hash(first) == hashlib.sha256(first.encode()).hexdigest()
    assert activation.link_hash(first) == public_links.secret_hash(first)
    assert not any(public_links.plausible_secret(value) for value in ("x" * 19, "x" * 101, None, 42))


# --- codes ----------------------------------------------------------------------------------------

RULES = public_links.CodeRules(purpose="essai-code-v1", lifetime=dt.timedelta(minutes=10),
                               max_tries=5, max_sent=6, interval=dt.timedelta(seconds=60))


def test_a_derived_code_is_six_digits_bound_to_purpose_row_and_nonce():
    code = RULES.derive(SECRET, 12, "nonce")
    assert len(code) == 6 and code.isdigit() and code == RULES.derive(SECRET, 12, "nonce")
    digest = hmac.new(SECRET.encode(), b"essai-code-v1:12:nonce", hashlib.sha256).digest()
    assert code == f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"
    others = {RULES.derive(SECRET, 13, "nonce"), RULES.derive(SECRET, 12, "autre"),
              RULES.derive("autre", 12, "nonce"), codes.CODES.derive(SECRET, 12, "nonce")}
    assert code not in others


def test_a_random_code_is_kept_only_as_a_keyed_digest():
    code = RULES.random_code()
    assert len(code) == 6 and code.isdigit()
    digest = RULES.digest(SECRET, 5, code)
    assert code not in digest and digest == RULES.digest(SECRET, 5, code)
    assert digest != RULES.digest("autre", 5, code) != RULES.digest(SECRET, 6, code)
    assert digest != activation.CODES.digest(SECRET, 5, code)


def test_one_code_a_minute_and_a_few_per_request():
    now = dt.datetime(2026, 3, 2, 9, 0)
    assert RULES.wait(None, now) is None
    assert RULES.wait(now - dt.timedelta(seconds=20), now) == dt.timedelta(seconds=40)
    assert RULES.wait(now - dt.timedelta(seconds=60), now) is None
    assert not RULES.exhausted(5) and RULES.exhausted(6)
    assert RULES.minutes == 10 and activation.CODES.minutes == 30 and codes.CODES.minutes == 10


@pytest.mark.parametrize("typed, matches", [("123456", True), (" 123 456 ", True),
                                            ("12345", False), ("1234567", False),
                                            ("１２３４５６", False), ("12345é", False)])
def test_what_is_typed_is_compared_without_spaces_and_never_crashes(typed, matches):
    assert public_links.same(public_links.typed_code(typed), "123456") is matches


class CodeRow(Model):
    """A row holding a code, as a signature request or an activation does."""
    code = CharField(null=True)
    tries = IntegerField(default=0)

    class Meta:
        database = db
        table_name = "test_public_links_code_row"


@pytest.fixture
def code_row(app):
    db.create_tables([CodeRow])
    yield CodeRow.create(code="abc")
    db.drop_tables([CodeRow])


def test_parallel_guesses_cannot_spend_more_tries_than_allowed(app, code_row):
    results, start = [], threading.Barrier(12)

    def guess():
        with db.connection_context():
            start.wait()
            results.append(public_links.spend_try(CodeRow.tries, code_row.id, 5,
                                                  CodeRow.code.is_null(False)))

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r for r in results if r is not None) == [1, 2, 3, 4, 5]
    assert results.count(None) == 7 and CodeRow.get_by_id(code_row.id).tries == 5


def test_a_code_is_used_once(app, code_row):
    still_there = CodeRow.code == "abc"
    assert public_links.consume(CodeRow, code_row.id, {CodeRow.code: None}, still_there)
    assert not public_links.consume(CodeRow, code_row.id, {CodeRow.code: None}, still_there)
    assert public_links.spend_try(CodeRow.tries, code_row.id, 5, CodeRow.code.is_null(False)) is None


# --- masked contacts ------------------------------------------------------------------------------

@pytest.mark.parametrize("contact, shown", [
    ("alice.colbert@exemple.fr", "a" + "•" * 12 + "@exemple.fr"),  # one per hidden letter
    ("al@exemple.fr", "a•••@exemple.fr"),
    ("+33612345678", "+336••••••78"),
    ("0612345678", "0612••••78"),
    ("", "••••"), ("01 23", "••••"), ("@exemple.fr", "•••"), ("alice@", "•••"),
])
def test_contacts_are_masked(contact, shown):
    assert public_links.mask_contact(contact) == shown


def test_the_activation_page_hides_the_length_too():
    assert activation.mask("Sandra.Boileau@exemple.fr") == "S•••@exemple.fr"
    assert activation.mask("+33612345678") == "+3361••••78"
    assert activation.mask("+336") == "••••"
