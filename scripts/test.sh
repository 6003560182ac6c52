#!/usr/bin/env bash
# Sets up everything the tests need and runs the whole suite, first on SQLite, then
# on PostgreSQL (127.0.0.1:5432, database "test", or TEST_PG_URL). The browser tests (marked
# `browser`) walk the screens once, on SQLite: what they drive is the same code the rest of the
# suite runs on both databases, and running them twice would take CI past its 30 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev

pg_url="${TEST_PG_URL:-postgresql://postgres@127.0.0.1:5432/test}"

echo "== Suite complète sur SQLite =="
.venv/bin/python -m pytest -n 2 --dist loadfile -q "$@"

echo "== Suite complète sur PostgreSQL =="
TEST_DATABASE_URL="$pg_url" .venv/bin/python -m pytest -n 2 --dist loadfile -q -m "not browser" "$@"
