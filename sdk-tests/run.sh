#!/usr/bin/env bash
# Client-compatibility suite: drives a real `switchyard serve` (in front of the
# `fake-provider` test double) with the official OpenAI and Anthropic SDKs for
# Python and Node, changed only in their base URL, and its /client/v4 control plane with the
# official Cloudflare SDK for Python.
#
# Usage: cargo build --workspace && sdk-tests/run.sh
#   SWITCHYARD_BIN, FAKE_PROVIDER_BIN  override the binaries
#   PYTEST_ARGS                        extra pytest arguments, shell-quoted (e.g. "-x -k 'compat and stream'")
#   NODE_TEST_ARGS                     extra `node --test` arguments (e.g. --test-name-pattern=compat)
#   SKIP_PYTHON=1 / SKIP_NODE=1        run only one half
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SWITCHYARD_BIN="${SWITCHYARD_BIN:-$TARGET_DIR/debug/switchyard}"
FAKE_PROVIDER_BIN="${FAKE_PROVIDER_BIN:-$TARGET_DIR/debug/fake-provider}"
PYTHON="${PYTHON:-python3.11}"

log() { printf '[sdk-tests] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

for bin in "$SWITCHYARD_BIN" "$FAKE_PROVIDER_BIN"; do
  [[ -x "$bin" ]] || die "$bin not found or not executable (build first: cargo build --workspace)"
done
command -v "$PYTHON" >/dev/null || PYTHON=python3
command -v node >/dev/null || die "node not found"
command -v npm >/dev/null || die "npm not found"

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- 1. dependencies (installed only when missing or when the pins changed) ---
VENV="$HERE/python/.venv"
PY_STAMP="$VENV/.switchyard-stamp"
py_hash="$(hash_of "$HERE/python/requirements.txt") $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
if [[ ! -x "$VENV/bin/python" || ! -f "$PY_STAMP" || "$(cat "$PY_STAMP")" != "$py_hash" ]]; then
  log "installing Python SDKs into python/.venv"
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    --requirement "$HERE/python/requirements.txt"
  printf '%s' "$py_hash" >"$PY_STAMP"
fi

NODE_MODULES="$HERE/node/node_modules"
NODE_STAMP="$NODE_MODULES/.switchyard-stamp"
node_hash="$(hash_of "$HERE/node/package.json" "$HERE/node/package-lock.json") $(node --version)"
if [[ ! -f "$NODE_STAMP" || "$(cat "$NODE_STAMP")" != "$node_hash" ]]; then
  log "installing Node SDKs into node/node_modules"
  (cd "$HERE/node" && npm ci --silent --no-audit --no-fund >/dev/null)
  printf '%s' "$node_hash" >"$NODE_STAMP"
fi

# --- 2. processes ---
TMP="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-sdk-tests.XXXXXX")"
FAKE_PID=""
GW_PID=""
GW2_PID=""
cleanup() {
  local pid
  for pid in "$GW_PID" "$GW2_PID" "$FAKE_PID"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null || true
  done
  for pid in "$GW_PID" "$GW2_PID" "$FAKE_PID"; do
    [[ -n "$pid" ]] && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

dump_logs() {
  log "---- switchyard log ($TMP/switchyard.log) ----"
  cat "$TMP/switchyard.log" >&2 || true
  if [[ -s "$TMP/switchyard-auth.log" ]]; then
    log "---- switchyard with admin_token, log ($TMP/switchyard-auth.log) ----"
    cat "$TMP/switchyard-auth.log" >&2 || true
  fi
  log "---- fake-provider stderr (last 50 lines) ----"
  tail -n 50 "$TMP/fake.log" >&2 || true
  log "----"
}

# wait_listening FILE PID NAME: prints "http://IP:PORT" from the first line of FILE.
wait_listening() {
  local file="$1" pid="$2" name="$3" line="" i
  for ((i = 0; i < 300; i++)); do
    if [[ -s "$file" ]] && IFS= read -r line <"$file" && [[ "$line" == "listening on http://"* ]]; then
      printf '%s' "${line#listening on }" | tr -d '\r'
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { dump_logs; die "$name exited before listening"; }
    sleep 0.05
  done
  dump_logs
  die "$name did not print 'listening on http://IP:PORT' within 15 s (got: '${line}')"
}

"$FAKE_PROVIDER_BIN" --listen 127.0.0.1:0 >"$TMP/fake.out" 2>"$TMP/fake.log" &
FAKE_PID=$!
FAKE_URL="$(wait_listening "$TMP/fake.out" "$FAKE_PID" fake-provider)"

providers_toml() {
  cat <<EOF
[providers.grok]
base_url = "$FAKE_URL/v1"

[providers.anthropic]
base_url = "$FAKE_URL"

[providers.openai]
base_url = "$FAKE_URL/v1"

[providers.google-ai-studio]
base_url = "$FAKE_URL"
EOF
}

# wait_healthy URL PID: until GET URL/healthz answers 200.
wait_healthy() {
  local url="$1" pid="$2" i
  for ((i = 0; i < 200; i++)); do
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/healthz" || true)" == "200" ]]; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  dump_logs
  die "GET $url/healthz never answered 200"
}

# The gateway under test: no admin_token, so its control plane serves loopback clients.
{ printf 'database = "sqlite://%s/switchyard.db"\n\n' "$TMP"; providers_toml; } >"$TMP/switchyard.toml"
"$SWITCHYARD_BIN" serve --config "$TMP/switchyard.toml" --listen 127.0.0.1:0 \
  >"$TMP/switchyard.out" 2>"$TMP/switchyard.log" &
GW_PID=$!
SWITCHYARD_URL="$(wait_listening "$TMP/switchyard.out" "$GW_PID" switchyard)"

# A second gateway with an admin_token (control-plane authentication tests), own database.
SWITCHYARD_ADMIN_TOKEN="sdk-tests-admin-$RANDOM$RANDOM"
{ printf 'database = "sqlite://%s/switchyard-auth.db"\nadmin_token = "%s"\n\n' "$TMP" "$SWITCHYARD_ADMIN_TOKEN"
  providers_toml; } >"$TMP/switchyard-auth.toml"
"$SWITCHYARD_BIN" serve --config "$TMP/switchyard-auth.toml" --listen 127.0.0.1:0 \
  >"$TMP/switchyard-auth.out" 2>"$TMP/switchyard-auth.log" &
GW2_PID=$!
SWITCHYARD_AUTH_URL="$(wait_listening "$TMP/switchyard-auth.out" "$GW2_PID" "switchyard (admin_token)")"

wait_healthy "$SWITCHYARD_URL" "$GW_PID"
wait_healthy "$SWITCHYARD_AUTH_URL" "$GW2_PID"
log "switchyard at $SWITCHYARD_URL (with admin_token: $SWITCHYARD_AUTH_URL), fake provider at $FAKE_URL"

export SWITCHYARD_URL SWITCHYARD_AUTH_URL SWITCHYARD_ADMIN_TOKEN FAKE_URL
# Keep the SDKs from picking up the caller's own settings.
unset OPENAI_BASE_URL OPENAI_API_KEY OPENAI_ORG_ID OPENAI_PROJECT_ID \
  ANTHROPIC_BASE_URL ANTHROPIC_API_KEY ANTHROPIC_AUTH_TOKEN \
  CLOUDFLARE_BASE_URL CLOUDFLARE_API_TOKEN CLOUDFLARE_API_KEY CLOUDFLARE_EMAIL \
  CLOUDFLARE_API_USER_SERVICE_KEY || true
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

# --- 3. tests ---
status=0
if [[ -z "${SKIP_PYTHON:-}" ]]; then
  log "python: pytest"
  eval "py_args=(${PYTEST_ARGS:-})" # shell-quoted, e.g. PYTEST_ARGS="-k 'compat and not stream'"
  (cd "$HERE/python" && PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -m pytest \
    -q --tb=short -p no:cacheprovider ${py_args[@]+"${py_args[@]}"}) || status=1
fi
if [[ -z "${SKIP_NODE:-}" ]]; then
  log "node: node --test"
  # Files run one at a time: every test resets the fake provider's request log.
  eval "node_args=(${NODE_TEST_ARGS:-})"
  (cd "$HERE/node" && node --test --test-concurrency=1 --test-reporter=spec \
    ${node_args[@]+"${node_args[@]}"}) || status=1
fi

if [[ "$status" != 0 ]]; then
  dump_logs
  log "FAILED"
else
  log "all passed"
fi
exit "$status"
