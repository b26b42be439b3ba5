#!/usr/bin/env bash
# Checks the web app: the committed bundle (web/dist) is what the sources
# build to, the bundle stays under its size budget, and the browser tests
# pass against the mock server.
set -euo pipefail
cd "$(dirname "$0")/../web"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npx tsc --noEmit
npx vite build --outDir "$out/dist" --emptyOutDir --logLevel warn
if ! diff -r "$out/dist" dist >/dev/null; then
  echo "test-web: web/dist is not the build of web/src; run 'npm run build' in web/ and commit" >&2
  diff -r "$out/dist" dist | head -5 >&2
  exit 1
fi
node scripts/size.mjs
node --test ../tests/browser/
