#!/bin/sh
# Lighthouse (mobile preset, headless Debian Chromium) on the home page and on a result page.
# Usage: scripts/lighthouse.sh BASE_URL [RESULT_PATH]
#   BASE_URL     a running SnapShop, e.g. http://127.0.0.1:8000 (this script starts nothing)
#   RESULT_PATH  a page with results, e.g. /s/12/ (a saved search opened in the same session is
#                not visible to Lighthouse's fresh profile, so the default is a text search: /find/?q=a;
#                for a photo search's permalink pass its session: LH_COOKIE="sessionid=...")
# Installs lighthouse into build/lighthouse with npm when missing; prints the four category scores
# per page and writes the JSON reports to build/lighthouse/report-*.json.
set -eu
BASE="${1:?usage: scripts/lighthouse.sh BASE_URL [RESULT_PATH]}"
RESULT="${2:-/find/?q=a}"
VERSION="${LIGHTHOUSE_VERSION:-13.5.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="$ROOT/build/lighthouse"
LH="$DIR/node_modules/.bin/lighthouse"
if [ ! -x "$LH" ]; then
  mkdir -p "$DIR"
  (cd "$DIR" && [ -f package.json ] || echo '{"private": true}' > package.json)
  (cd "$DIR" && npm install --silent --no-audit --no-fund "lighthouse@$VERSION")
fi
export CHROME_PATH="${CHROME_PATH:-/usr/bin/chromium}"
FLAGS="--headless=new --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --no-first-run"
status=0
for path in / "$RESULT"; do
  name=$(echo "$path" | tr -c 'a-zA-Z0-9\n' '_')
  out="$DIR/report$name.json"
  set -- --quiet --output=json --output-path="$out"
  [ -n "${LH_COOKIE:-}" ] && set -- "$@" --extra-headers="{\"Cookie\": \"$LH_COOKIE\"}"
  "$LH" "${BASE%/}$path" "$@" \
      --only-categories=performance,accessibility,best-practices,seo \
      --chrome-flags="$FLAGS" --form-factor=mobile --screenEmulation.mobile=true || status=1
  node -e '
    const r = require(process.argv[1]);
    const s = Object.values(r.categories).map(c => `${c.title} ${Math.round(c.score * 100)}`).join(", ");
    console.log(`${process.argv[2]}: ${s}`);
  ' "$out" "$path" || status=1
done
exit $status
