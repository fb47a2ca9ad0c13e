#!/usr/bin/env bash
# The test command: installs the pinned wmill the tests use, then runs
# every test. Extra arguments go to `cargo test` (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "tests/run.sh: installing the pinned windmill-cli (npm ci --prefix tests/wmill)" >&2
npm ci --prefix tests/wmill --no-audit --no-fund --ignore-scripts --loglevel=error >&2

cargo test --locked "$@"
