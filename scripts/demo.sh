#!/usr/bin/env bash
# Sets up and runs the demo: SQLite database and documents in ./instance, e-mails as
# .eml files in instance/mail, demo keys in SoftHSM2, the extranet on
# http://127.0.0.1:5000 and the token bridge on 127.0.0.1:8765.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

export RADESK_INSTANCE_PATH="${RADESK_INSTANCE_PATH:-$PWD/instance}"
export SOFTHSM2_CONF="$RADESK_INSTANCE_PATH/softhsm/softhsm2.conf"
export RADESK_BRIDGE_STATE="$RADESK_INSTANCE_PATH/bridge-state"
port="${PORT:-5000}"
export RADESK_PUBLIC_URL="${RADESK_PUBLIC_URL:-http://127.0.0.1:$port}"
export RADESK_LOGIN_ORIGINS="${RADESK_LOGIN_ORIGINS:-http://127.0.0.1:$port,http://localhost:$port}"
export RADESK_BRIDGE_ORIGINS="$RADESK_LOGIN_ORIGINS"
# The server also runs the background jobs: notifications leave within seconds (.eml files
# in instance/mail/ unless MAIL_SERVER is set).
export RADESK_SCHEDULER="${RADESK_SCHEDULER:-1}"

.venv/bin/flask --app app seed-demo

.venv/bin/python -m token_bridge &
bridge_pid=$!
trap 'kill $bridge_pid 2>/dev/null || true' EXIT INT TERM

echo "RA Desk : http://127.0.0.1:$port  (clé demo-aea, code PIN 1234)"
.venv/bin/flask --app app run --host 127.0.0.1 --port "$port"
