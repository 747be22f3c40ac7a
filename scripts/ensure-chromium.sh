#!/usr/bin/env bash
# Browser tests drive Debian's Chromium; install it when it is missing.
set -euo pipefail
[ -x /usr/bin/chromium ] || exec "$(dirname "$0")/ensure-package.sh" chromium
