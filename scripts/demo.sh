#!/usr/bin/env bash
# Sets up and runs the demo: SQLite database and documents in ./instance, e-mails as .eml
# files in instance/mail, demo keys in SoftHSM2, the extranet on http://127.0.0.1:5000 served
# by gunicorn (the production server) and the token bridge on 127.0.0.1:8765. Ctrl-C stops
# both. PORT and RADESK_INSTANCE_PATH choose another port and data folder.
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
# Holder certificates say where the CRL, the CA certificate and the PDS are published. pkilint
# (ETSI rules) refuses 127.0.0.1 and localhost there: the demo uses a name reserved for
# documentation (RFC 2606), which this server answers on its port (README, « Demo PKI »).
export RADESK_PKI_URL="${RADESK_PKI_URL:-http://pki.radesk.example.com:$port}"
# The background jobs (outbox, signature reminders, digest) run inside the one gunicorn worker:
# an e-mail a page queues leaves at once, as scheduler.wake() reaches only a scheduler of its
# own process, and one worker with threads is ample for a demo. Production runs several
# workers and `flask --app app scheduler` beside them.
export RADESK_SCHEDULER="${RADESK_SCHEDULER:-1}"

.venv/bin/flask --app app seed-demo

pids=()
stop() {
  trap - EXIT INT TERM
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

.venv/bin/python -m token_bridge &
pids+=($!)
.venv/bin/gunicorn --bind "127.0.0.1:$port" --workers 1 --threads 8 --graceful-timeout 3 \
  --access-logfile - --error-logfile - --logger-class adapters.access_log.RedactingLogger \
  'app:create_app()' &
pids+=($!)
echo "RA Desk : http://127.0.0.1:$port  (clé demo-aea, code PIN 1234 ; Ctrl-C pour arrêter)"
wait -n  # either one stopping (a port already taken…) stops the demo
