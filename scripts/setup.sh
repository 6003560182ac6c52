#!/usr/bin/env bash
# Installs what RA Desk needs on a fresh Debian/Ubuntu machine: system packages
# (SoftHSM2, poppler, nginx, Chromium) and a Python virtualenv in .venv.
# Usage: scripts/setup.sh [dev]   ("dev" adds the test dependencies)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(softhsm2 poppler-utils fonts-dejavu-core openssl)
[ "${1:-}" = "dev" ] && packages+=(nginx-light chromium chromium-driver)
packages+=(util-linux)                             # prlimit: bounded preview renders (issue 4)
[ "${1:-}" = "dev" ] && packages+=(unzip curl)     # ZIP checks in tests, benchmarks (issue 4)
[ "${1:-}" = "dev" ] && packages+=(libnss3-tools)  # certutil: pdfsig trusts the CA in tests (issue 6)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installation des paquets système : ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
requirements=requirements.txt
[ "${1:-}" = "dev" ] && requirements=requirements-dev.txt
stamp=".venv/.installed-$(sha256sum requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)-${1:-run}"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r "$requirements"
  touch "$stamp"
fi
