#!/usr/bin/env bash
# Runs the benchmark: the release build of windmill-git-sync against
# generated workspaces served by the test stand-in Windmill, beside the same
# wmill and git work done directly. Progress goes to stderr, the markdown
# table to stdout.
#
#   examples/bench.sh [--sizes 100,1000,5000] [--runs 3]
#                     [--only first,nochange,edit1,edit50,delete1,history]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x tests/wmill/node_modules/.bin/wmill ] ||
    [ tests/wmill/package-lock.json -nt tests/wmill/node_modules/.package-lock.json ]; then
    echo "bench.sh: installing the pinned windmill-cli (npm ci --prefix tests/wmill)" >&2
    npm ci --prefix tests/wmill --no-audit --no-fund --ignore-scripts --loglevel=error >&2
fi
echo "bench.sh: building the release binary and the benchmark" >&2
cargo build --quiet --locked --release --bin windmill-git-sync --example bench
exec target/release/examples/bench "$@"
