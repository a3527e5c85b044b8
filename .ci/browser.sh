#!/usr/bin/env bash
# CI: Debian's Chromium for tests/test_ui.py (driven by the Playwright PyPI package; no browser download).
# Idempotent: does nothing when /usr/bin/chromium is already there.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
/usr/bin/chromium --version
