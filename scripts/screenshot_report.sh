#!/usr/bin/env bash
# Render a report in headless Chromium and save a screenshot: scripts/screenshot_report.sh runs/default/report.html out.png
# (Debian: apt-get install chromium)
set -euo pipefail
report=$(realpath "$1")
out=${2:-${report%.html}.png}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars --window-size=1200,9000 \
  --screenshot="$out" "file://$report" 2>/dev/null
echo "$out"
