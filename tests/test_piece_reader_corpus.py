"""The reader on a corpus of phone photos of identity documents (tests/piece_corpus.py):
enough read, nothing misread, the unreadable ones left unread."""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from adapters.document_store import JPEG
from adapters.piece_reader import IDENTITY, READ, UNREADABLE, read_piece
from tests.piece_corpus import build, truth

FIELDS = ("document_type", "document_number", "surname", "given_names", "birth_date",
          "expiry_date", "nationality")

# No database here: the PostgreSQL pass of scripts/test.sh would only run it a second time.
pytestmark = pytest.mark.skipif(bool(os.environ.get("TEST_DATABASE_URL")),
                                reason="no database involved: run on the SQLite pass only")


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("piece-corpus")
    with ProcessPoolExecutor(2) as pool:
        samples = build(folder, map=pool.map)
    with ThreadPoolExecutor(2) as pool:  # each read is its own process already
        readings = list(pool.map(lambda s: read_piece(s.path, JPEG, IDENTITY), samples))
    return list(zip(samples, readings))


def _value(reading, name):
    value = getattr(reading.identity, name)
    if isinstance(value, tuple):
        return list(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


def test_the_corpus_covers_every_format_and_degradation(corpus):
    assert len(corpus) >= 60
    assert {sample.fmt for sample, _ in corpus} == {"CNI_1988", "CNI_TD1", "PASSEPORT",
                                                    "TITRE_SEJOUR"}
    assert sum(not sample.readable for sample, _ in corpus) >= 6


def test_no_field_is_ever_misread(corpus):
    wrong = []
    for sample, reading in corpus:
        if reading.identity is None:
            continue
        expected = truth(sample)
        for name in FIELDS:
            value = _value(reading, name)
            if value is not None and value != expected[name]:
                wrong.append((sample.path.name, name, value, expected[name]))
    assert wrong == []


def test_nearly_every_readable_zone_is_read_with_valid_check_digits(corpus):
    readable = [(sample, reading) for sample, reading in corpus if sample.readable]
    read = [reading for _, reading in readable
            if reading.status == READ and reading.extra.get("check_digits_valid")
            and reading.identity.birth_date is not None]
    missed = [sample.path.name for sample, reading in readable if reading not in read]
    assert len(read) >= 0.95 * len(readable), missed


def test_every_unreadable_one_is_left_unread(corpus):
    for sample, reading in corpus:
        if not sample.readable:
            assert reading.status == UNREADABLE or all(
                getattr(reading.identity, name) is None for name in FIELDS), sample.path.name
