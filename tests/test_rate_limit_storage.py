"""Where the rate limits are counted: in each process's memory by default (the embedded
server), in Redis when ``RATELIMIT_STORAGE_URI`` names one (several workers, one count: see
tests/test_multiworker.py); and when that Redis cannot be reached, the limits still hold in
each process's memory rather than turning every limited page into an error."""
from __future__ import annotations

import pytest

from config import Config
from extensions import limiter
from tests.conftest import csrf_token_from, make_test_app

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # port 1: nothing listens, connection refused


def test_the_default_storage_is_this_process_memory_with_its_own_key_prefix():
    config = Config({})
    assert config.RATELIMIT_STORAGE_URI == "memory://"
    assert config.RATELIMIT_KEY_PREFIX == "radesk"
    shared = Config({"RATELIMIT_STORAGE_URI": "redis://10.0.0.5:6379/2",
                     "RATELIMIT_KEY_PREFIX": "radesk-recette"})
    assert (shared.RATELIMIT_STORAGE_URI, shared.RATELIMIT_KEY_PREFIX) == (
        "redis://10.0.0.5:6379/2", "radesk-recette")


@pytest.fixture
def app_without_its_redis(tmp_path, database_url):
    pytest.importorskip("redis")
    app = make_test_app(tmp_path, database_url)
    app.config.update(RATELIMIT_STORAGE_URI=UNREACHABLE_REDIS, LOGIN_RATE_LIMIT="2 per minute")
    limiter.init_app(app)  # the limiter reads its storage when it is given the app
    yield app
    limiter._storage_dead = False  # process-wide: the next test's app starts with its storage


def test_redis_unreachable_the_login_limit_still_counts_without_an_error(app_without_its_redis):
    client = app_without_its_redis.test_client()
    token = csrf_token_from(client.get("/connexion").get_data(as_text=True))
    statuses = [client.post("/connexion/defi", headers={"X-CSRFToken": token}).status_code
                for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
