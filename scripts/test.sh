#!/usr/bin/env bash
# Runs every check and test of the project: formatting, lints, the Rust test suites (unit,
# integration against the real binary, storage suites on SQLite, PostgreSQL and Redis), and
# the client-compatibility suite with the official SDKs.
#
# Needs PostgreSQL and Redis: SWITCHYARD_TEST_POSTGRES and SWITCHYARD_TEST_REDIS (defaults:
# the local servers on their standard ports). Fails if either is unreachable.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}"
export SWITCHYARD_TEST_POSTGRES="${SWITCHYARD_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}"
export SWITCHYARD_TEST_REDIS="${SWITCHYARD_TEST_REDIS:-redis://127.0.0.1:6379}"

reachable() { # host port
  timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}
hostport() { # URL -> "host port" (default port $2)
  local rest=${1#*://}; rest=${rest#*@}; rest=${rest%%/*}
  local host=${rest%:*} port=${rest##*:}
  [ "$host" = "$rest" ] && port=$2
  echo "$host $port"
}
read -r pg_host pg_port <<<"$(hostport "$SWITCHYARD_TEST_POSTGRES" 5432)"
read -r rd_host rd_port <<<"$(hostport "$SWITCHYARD_TEST_REDIS" 6379)"
reachable "$pg_host" "$pg_port" || { echo "PostgreSQL is unreachable at $pg_host:$pg_port (SWITCHYARD_TEST_POSTGRES)" >&2; exit 1; }
reachable "$rd_host" "$rd_port" || { echo "Redis is unreachable at $rd_host:$rd_port (SWITCHYARD_TEST_REDIS)" >&2; exit 1; }

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo build"
cargo build --workspace --quiet
echo "== cargo test"
cargo test --workspace
echo "== client-compatibility suite"
bash sdk-tests/run.sh
