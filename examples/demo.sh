#!/usr/bin/env bash
# Runs the demo: the real windmill-git-sync and the pinned real wmill CLI
# against a stand-in Windmill (a small HTTP server from the tests, not a
# real Windmill) and a local bare git repository. `--serve` only starts the
# stand-in and a git server and prints a config to try by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix tests/wmill --no-audit --no-fund --ignore-scripts --loglevel=error >&2
cargo build --quiet --locked --bin windmill-git-sync --example demo
exec target/debug/examples/demo "$@"
