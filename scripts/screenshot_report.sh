#!/usr/bin/env bash
# Render a report in headless Chromium and save a screenshot: scripts/screenshot_report.sh runs/default/report.html out.png
# (Debian: apt-get install chromium)
set -euo pipefail
report=$(realpath "$1")
out=${2:-${report%.html}.png}
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,3200 \
  --screenshot="$out" "file://$report" 2>/dev/null
echo "$out"
