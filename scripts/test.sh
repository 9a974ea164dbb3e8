#!/usr/bin/env bash
# Installs what the tests need, then runs the whole suite:
#   Debian's chromium (browser tests; needs root or sudo, only when it is missing),
#   the Python test extras, the web client's npm packages, and the JavaScript Agents SDK
#   that tests/test_agents_sdk_js.py runs under Node (tests/js).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  $sudo apt-get install -y chromium
fi
python3 -m venv .venv
.venv/bin/pip install -e '.[test]'
npm --prefix web ci
npm --prefix tests/js ci
.venv/bin/python -m pytest "$@"
