#!/usr/bin/env bash
# Checks a probe report in a real browser: renders REPORT.html in headless Chromium, reads
# back the DOM to see that every embedded image decoded (the page's own script writes
# data-images-ok="K/N" on <body> once loaded), and takes a screenshot that must not be blank.
#
# Usage: scripts/check-report.sh REPORT.html [SCREENSHOT.png]
#   SCREENSHOT defaults to REPORT-screenshot.png beside the report.
#   CHROMIUM=/path/to/browser overrides the browser (default: chromium, then
#   chromium-browser, then google-chrome).
#
# Prints one line, `report OK: N images rendered, screenshot PATH`, or one line starting
# with `report FAILED:` on stderr and exits non-zero.
set -euo pipefail

fail() {
    echo "report FAILED: $*" >&2
    exit 1
}

[[ $# -ge 1 && $# -le 2 ]] || fail "usage: $0 REPORT.html [SCREENSHOT.png]"
report=$1
[[ -f $report && -r $report ]] || fail "$report: no such readable file"
screenshot=${2:-${report%.html}-screenshot.png}

browser=${CHROMIUM:-}
if [[ -z $browser ]]; then
    for candidate in chromium chromium-browser google-chrome; do
        if command -v "$candidate" >/dev/null 2>&1; then
            browser=$candidate
            break
        fi
    done
fi
[[ -n $browser ]] || fail "no chromium found (apt-get install chromium, or set CHROMIUM)"

# Images the page declares. Base64 and escaped text cannot contain "<img", so this counts
# real elements only.
expected=$({ grep -o '<img[[:space:]>]' "$report" || true; } | wc -l | tr -d ' ')
[[ $expected -gt 0 ]] || fail "$report has no <img> to check"

work=$(mktemp -d "${TMPDIR:-/tmp}/check-report.XXXXXX")
trap 'rm -rf "$work"' EXIT
page=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")

# A fresh profile per run: no state from an earlier check, no lock held by another browser.
# Virtual time lets the load event (and the page's counting script) finish before the
# DOM is dumped, without real waiting.
run_browser() {
    local profile=$1
    shift
    timeout 60 "$browser" --headless --no-sandbox --disable-gpu \
        --disable-background-networking --disable-extensions --no-first-run \
        --disable-dev-shm-usage --hide-scrollbars --virtual-time-budget=5000 \
        --user-data-dir="$work/$profile" "$@" "$page"
}

status=0
run_browser dom --dump-dom >"$work/dom.html" 2>"$work/dom.log" || status=$?
[[ $status -eq 0 ]] || fail "chromium --dump-dom exited with $status ($(tail -n 1 "$work/dom.log"))"
ok=$({ grep -o 'data-images-ok="[0-9]*/[0-9]*"' "$work/dom.html" || true; } | head -n 1 |
    sed 's/.*="\(.*\)"/\1/')
[[ -n $ok ]] || fail "no data-images-ok on <body>: the page's load script did not run"
loaded=${ok%/*}
total=${ok#*/}
[[ $total -eq $expected ]] || fail "browser saw $total images, the file has $expected"
[[ $loaded -eq $total ]] || fail "only $loaded of $total images rendered"

rm -f "$screenshot"
run_browser shot --screenshot="$screenshot" --window-size=1280,2400 \
    >"$work/shot.log" 2>&1 || status=$?
[[ $status -eq 0 ]] || fail "chromium --screenshot exited with $status ($(tail -n 1 "$work/shot.log"))"
[[ -f $screenshot ]] || fail "chromium wrote no screenshot to $screenshot"
signature=$(head -c 8 "$screenshot" | od -An -tx1 | tr -d ' \n')
[[ $signature == 89504e470d0a1a0a ]] || fail "$screenshot is not a PNG"
# A blank 1280x2400 page compresses to a few KB; text, tables and figures take far more.
bytes=$(wc -c <"$screenshot" | tr -d ' ')
[[ $bytes -gt 40000 ]] || fail "$screenshot is only $bytes bytes: the page looks blank"

echo "report OK: $total images rendered, screenshot $screenshot"
