#!/usr/bin/env bash
# Installs what RA Desk needs on a fresh Debian/Ubuntu machine: system packages
# (SoftHSM2, poppler, nginx, Chromium) and a Python virtualenv in .venv.
# Usage: scripts/setup.sh [dev]   ("dev" adds the test dependencies)
# Once installed, a start runs neither apt nor pip: a stamp in .venv names the requirements
# installed (the test requirements include the runtime ones).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(softhsm2 poppler-utils fonts-dejavu-core fonts-dejavu-extra openssl)
packages+=(util-linux)                             # prlimit: bounded preview renders
packages+=(tesseract-ocr tesseract-ocr-eng)        # reading the MRZ of identity pieces
packages+=(fonts-ocr-b)                            # OCR-B: the MRZ's glyphs, the specimens' font
packages+=(postgresql-client)                      # pg_dump, pg_restore: flask backup on PostgreSQL
[ "${1:-}" = "dev" ] && packages+=(nginx-light chromium chromium-driver)
[ "${1:-}" = "dev" ] && packages+=(unzip curl)     # ZIP checks in tests, benchmarks
[ "${1:-}" = "dev" ] && packages+=(libnss3-tools)  # certutil: pdfsig trusts the CA in tests

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
stamp=".venv/.installed-$(sha256sum requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)"
if [ "${1:-}" = "dev" ]; then
  wanted=("$stamp-dev") requirements=requirements-dev.txt
else
  wanted=("$stamp-run" "$stamp-dev") requirements=requirements.txt
fi
installed=""
for candidate in "${wanted[@]}"; do [ -f "$candidate" ] && installed=yes; done
if [ -z "$installed" ]; then
  echo "Installation des dépendances Python ($requirements)"
  .venv/bin/pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/pip install -q --disable-pip-version-check -r "$requirements"
  touch "${wanted[0]}"
fi
