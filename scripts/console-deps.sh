#!/usr/bin/env bash
# The console's browser tests drive Debian's Chromium, with CJK fonts so Chinese renders;
# install them only when missing (CI calls this before the tests).
set -euo pipefail

if ! dpkg -s chromium fonts-noto-cjk >/dev/null 2>&1; then
  apt-get update && apt-get install -y chromium fonts-noto-cjk
fi
