#!/usr/bin/env bash
# Switchyard benchmark: builds release binaries, starts the fake provider and
# the gateway pinned to separate cores, runs `loadgen` (gateway vs direct, in
# the same run) and writes bench/results/latest.md and latest.json.
#
#   bench/run.sh                 full run (~8 minutes of load after the build)
#   bench/run.sh --quick         ~3-minute smoke run
#   bench/run.sh --self-test     no gateway: both paths go straight to the fake
#                                (checks the harness; ratios should be ~1)
#   bench/run.sh --reference     no gateway: the gateway path goes through
#                                `loadgen forward`, a bare hyper proxy pinned
#                                where the gateway would be (what any proxy
#                                costs on this rig; scenarios 1-5 only)
#   bench/run.sh --mock          use loadgen's built-in stand-in upstream
#                                instead of fake-provider
#   bench/run.sh --no-build      use the binaries already built
#   bench/run.sh --prio P        scheduling: rt (default: loadgen SCHED_FIFO,
#                                gateway and upstream nice -10), nice (all
#                                three nice -10), none
#   bench/run.sh -- ARGS...      extra arguments for `loadgen run`
#                                (e.g. -- --scenarios 1,4 --c1-requests 50000,
#                                or -- --scenarios A,B,C,D for the feature costs)
#
# Layout (2 cores): gateway(s) on core 0; fake provider and loadgen on core 1.
# Scenario C also starts a gateway with `redis = ...` (Redis at
# $BENCH_REDIS_URL, default redis://127.0.0.1:6379) and scenario B one with
# `database = $BENCH_PG_URL` (default postgres://postgres@127.0.0.1:5432/test);
# each only when its server answers, else that half is skipped with a note.
# BENCH_GATEWAY_CONFIG: extra top-level config lines for every gateway
# (e.g. "busy_poll_us = 0").
# BENCH_GATEWAY: the account/gateway scenarios 1-5 go through (default
# bench/bench, request logging on; bench/nolog measures the gateway with
# collect_logs = false, i.e. without the cost of the request log).
# See bench/README.md for what is measured and how.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RESULTS="$ROOT/bench/results"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}"
BIN="$CARGO_TARGET_DIR/release"

QUICK=()
SELF_TEST=0
REFERENCE=0
MOCK=0
BUILD=1
PRIO=rt
EXTRA=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) QUICK=(--quick) ;;
        --self-test) SELF_TEST=1 ;;
        --reference) REFERENCE=1 ;;
        --mock) MOCK=1 ;;
        --no-build) BUILD=0 ;;
        --prio) PRIO="$2"; shift ;;
        --) shift; EXTRA=("$@"); break ;;
        -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

log() { echo "[run.sh] $*" >&2; }

# One connection per stream at 2,048 streams needs a few thousand descriptors
# in each process (the gateway holds client + upstream sockets).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
log "open-file limit: $(ulimit -n)"

if [[ $BUILD -eq 1 ]]; then
    pkgs=(-p switchyard-bench)
    [[ $MOCK -eq 0 ]] && pkgs+=(-p switchyard-testkit)
    [[ $SELF_TEST -eq 0 && $REFERENCE -eq 0 ]] && pkgs+=(-p switchyard)
    log "building ${pkgs[*]} (release, target dir $CARGO_TARGET_DIR)"
    (cd "$ROOT" && cargo build --release "${pkgs[@]}")
fi

# Pinning: gateway on core 0, upstream + load generator on core 1.
if [[ "$(nproc --all)" -ge 2 ]]; then
    PIN_GW=(taskset -c 0)
    PIN_LOAD=(taskset -c 1)
    PINNING="gateway on core 0; upstream and loadgen on core 1 (taskset)"
else
    PIN_GW=()
    PIN_LOAD=()
    PINNING="not pinned (fewer than 2 cores)"
fi

# Scheduling. Other workloads on the machine (builds, tests) are not pinned
# and land on both cores; nice -10 gives the gateway and the upstream ~10x
# the CPU weight of a normal process, so such noise disturbs them less.
# loadgen shares core 1 with the upstream: as SCHED_FIFO it sends on time
# and reads responses as soon as they arrive, instead of waiting for the
# upstream's time slice to end (a wait that hit the direct path, whose server
# runs on loadgen's core at the very moment of the request, more than the
# gateway path). loadgen never spins, so the upstream gets the core whenever
# loadgen waits.
SRV_PRIO=()
LOAD_PRIO=()
if [[ "$PRIO" != none ]] && nice -n -10 true 2>/dev/null; then
    SRV_PRIO=(nice -n -10)
fi
case "$PRIO" in
    rt)
        if chrt -f 10 true 2>/dev/null; then
            LOAD_PRIO=(chrt -f 10)
        else
            LOAD_PRIO=("${SRV_PRIO[@]}")
        fi
        ;;
    nice) LOAD_PRIO=("${SRV_PRIO[@]}") ;;
    none) ;;
    *) echo "run.sh: --prio must be rt, nice or none" >&2; exit 2 ;;
esac
PINNING="$PINNING; gateway and upstream: ${SRV_PRIO[*]:-normal priority}; loadgen: ${LOAD_PRIO[*]:-normal priority}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-bench.XXXXXX")"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    local name
    for name in gateway gateway-redis gateway-pg; do
        if [[ -f "$WORK/$name.err" ]]; then
            mkdir -p "$RESULTS"
            tail -n 500 "$WORK/$name.err" > "$RESULTS/latest-$name.log" || true
        fi
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME OUTFILE ERRFILE CMD... : starts CMD in the background, waits for
# its first stdout line `listening on http://IP:PORT`, sets STARTED_PID and
# STARTED_URL.
# With START_OPTIONAL=1 a failure returns 1 (after killing the process)
# instead of ending the run.
start() {
    local name="$1" out="$2" err="$3"
    shift 3
    "$@" >"$out" 2>"$err" &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    local i
    for i in $(seq 1 300); do
        if STARTED_URL="$(sed -n 's#^listening on \(http://[^ ]*\).*#\1#p' "$out" | head -n 1)" \
            && [[ -n "$STARTED_URL" ]]; then
            log "$name: pid $STARTED_PID at $STARTED_URL"
            return 0
        fi
        if ! kill -0 "$STARTED_PID" 2>/dev/null; then
            log "$name exited before listening; stderr:"
            sed -n '/^Stack backtrace:/q;p' "$err" | tail -n 30 >&2
            [[ "${START_OPTIONAL:-0}" == 1 ]] && return 1
            exit 1
        fi
        sleep 0.1
    done
    log "$name did not print 'listening on http://...' within 30 s; stderr:"
    tail -n 30 "$err" >&2
    if [[ "${START_OPTIONAL:-0}" == 1 ]]; then
        kill "$STARTED_PID" 2>/dev/null || true
        return 1
    fi
    exit 1
}

if [[ $MOCK -eq 1 ]]; then
    start upstream "$WORK/fake.out" "$WORK/fake.err" \
        "${PIN_LOAD[@]}" "${SRV_PRIO[@]}" "$BIN/loadgen" mock --listen 127.0.0.1:0
else
    start fake-provider "$WORK/fake.out" "$WORK/fake.err" \
        "${PIN_LOAD[@]}" "${SRV_PRIO[@]}" "$BIN/fake-provider" --listen 127.0.0.1:0 --no-record --no-auth
fi
FAKE_URL="$STARTED_URL"
FAKE_PID="$STARTED_PID"
DIRECT_URL="$FAKE_URL/v1/chat/completions"

NOTES=()
FEATURE_ARGS=()
if [[ $SELF_TEST -eq 1 ]]; then
    GW_URL="$DIRECT_URL"
    GW_CHAT="$DIRECT_URL"
    GW_PID="$FAKE_PID"
    NOTES+=(--note "SELF-TEST: no gateway; both paths go straight to the upstream, so added latency should be ~0 and ratios ~100 %. Memory rows are the upstream's.")
    OUT_BASE="$RESULTS/selftest"
elif [[ $REFERENCE -eq 1 ]]; then
    start forward "$WORK/forward.out" "$WORK/forward.err" \
        "${PIN_GW[@]}" "${SRV_PRIO[@]}" "$BIN/loadgen" forward --listen 127.0.0.1:0 --upstream "$FAKE_URL"
    GW_URL="$STARTED_URL"
    GW_PID="$STARTED_PID"
    GW_CHAT="$GW_URL/v1/chat/completions"
    NOTES+=(--note "REFERENCE: no gateway; the gateway path goes through \`loadgen forward\`, a bare hyper HTTP/1 proxy (pooled client, TCP_NODELAY, bodies streamed untouched) pinned and prioritised as the gateway would be. Its added latency is what crossing the second core and socket pair costs any proxy on this machine. Memory rows are the proxy's.")
    OUT_BASE="$RESULTS/reference"
else
    # Which scenarios will run (loadgen's default is all of them).
    SCEN="1,2,3,4,5,A,B,C,D"
    for ((i = 0; i < ${#EXTRA[@]}; i++)); do
        case "${EXTRA[$i]}" in
            --scenarios) SCEN="${EXTRA[$((i + 1))]:-}" ;;
            --scenarios=*) SCEN="${EXTRA[$i]#--scenarios=}" ;;
        esac
    done
    SCEN="$(echo "$SCEN" | tr '[:lower:]' '[:upper:]')"
    wants() { [[ ",$SCEN," == *",$1,"* ]]; }

    # gateway_config DATABASE [EXTRA_TOP_LEVEL_LINE]: the config of every
    # gateway process of the run. bench/bench is created on first use with
    # default settings (logging on); scenario A compares it with bench/nolog,
    # scenario C with bench/rl.
    # secret_key: without one the gateway writes a key file beside the
    # database, which for PostgreSQL is the current directory.
    SECRET_KEY="$(head -c 32 /dev/urandom | base64)"
    gateway_config() {
        cat <<EOF
database = "$1"
secret_key = "$SECRET_KEY"
${2:-}
${BENCH_GATEWAY_CONFIG:-}

[providers.grok]
base_url = "$FAKE_URL/v1"

[providers.anthropic]
base_url = "$FAKE_URL"

[[gateways]]
account_id = "bench"
id = "nolog"
collect_logs = false

[[gateways]]
account_id = "bench"
id = "rl"
rate_limiting_limit = 100000000
rate_limiting_interval = 60
EOF
    }
    wait_healthy() {
        command -v curl >/dev/null || return 0
        for _ in $(seq 1 100); do
            curl -fsS -o /dev/null "$1/healthz" 2>/dev/null && return 0
            sleep 0.1
        done
        log "$1/healthz did not answer 200 within 10 s"
    }
    # reachable HOST PORT: whether a TCP connection opens.
    reachable() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
    # host_port URL DEFAULT_PORT: host and port of a redis:// or postgres:// URL.
    host_port() {
        local rest="${1#*://}"
        rest="${rest#*@}"
        rest="${rest%%/*}"
        local host="${rest%%:*}" port="${rest##*:}"
        [[ "$port" == "$rest" ]] && port="$2"
        echo "$host $port"
    }

    gateway_config "sqlite://$WORK/bench.db" >"$WORK/switchyard.toml"
    start switchyard "$WORK/gateway.out" "$WORK/gateway.err" \
        "${PIN_GW[@]}" "${SRV_PRIO[@]}" "$BIN/switchyard" serve --config "$WORK/switchyard.toml" --listen 127.0.0.1:0
    GW_URL="$STARTED_URL"
    GW_PID="$STARTED_PID"
    GW_CHAT="$GW_URL/v1/${BENCH_GATEWAY:-bench/bench}/grok/v1/chat/completions"
    # Wait for storage to be ready (spec: /healthz is 200 once it is).
    wait_healthy "$GW_URL"
    FEATURE_ARGS=(--upstream-base "$FAKE_URL" --gateway-base "$GW_URL")

    REDIS_URL="${BENCH_REDIS_URL:-redis://127.0.0.1:6379}"
    if wants C; then
        # shellcheck disable=SC2046
        if reachable $(host_port "$REDIS_URL" 6379); then
            gateway_config "sqlite://$WORK/bench-redis.db" "redis = \"$REDIS_URL\"" >"$WORK/switchyard-redis.toml"
            if START_OPTIONAL=1 start switchyard-redis "$WORK/gateway-redis.out" "$WORK/gateway-redis.err" \
                "${PIN_GW[@]}" "${SRV_PRIO[@]}" "$BIN/switchyard" serve --config "$WORK/switchyard-redis.toml" --listen 127.0.0.1:0; then
                wait_healthy "$STARTED_URL"
                FEATURE_ARGS+=(--redis-gateway-base "$STARTED_URL" --redis-gateway-pid "$STARTED_PID")
            else
                NOTES+=(--note "Scenario C: the gateway with redis = $REDIS_URL did not start (see latest-gateway-redis.log); the Redis half was skipped.")
            fi
        else
            NOTES+=(--note "Scenario C: Redis at $REDIS_URL did not answer; the Redis half was skipped.")
        fi
    fi
    PG_URL="${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
    if wants B; then
        # shellcheck disable=SC2046
        if reachable $(host_port "$PG_URL" 5432); then
            gateway_config "$PG_URL" >"$WORK/switchyard-pg.toml"
            if START_OPTIONAL=1 start switchyard-pg "$WORK/gateway-pg.out" "$WORK/gateway-pg.err" \
                "${PIN_GW[@]}" "${SRV_PRIO[@]}" "$BIN/switchyard" serve --config "$WORK/switchyard-pg.toml" --listen 127.0.0.1:0; then
                wait_healthy "$STARTED_URL"
                FEATURE_ARGS+=(--pg-gateway-base "$STARTED_URL" --pg-gateway-pid "$STARTED_PID")
            else
                NOTES+=(--note "Scenario B: the gateway with database = $PG_URL did not start (see latest-gateway-pg.log; e.g. the database has migrations this build lacks); the PostgreSQL half was skipped.")
            fi
        else
            NOTES+=(--note "Scenario B: PostgreSQL at $PG_URL did not answer; the PostgreSQL half was skipped.")
        fi
    fi
    OUT_BASE="$RESULTS/latest"
fi
[[ $MOCK -eq 1 ]] && NOTES+=(--note "Upstream: loadgen's built-in mock, not fake-provider.")

# Let start-up settle before the idle memory reading.
sleep 1

COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "none")"
if [[ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -v ' bench/results/' || true)" ]]; then
    COMMIT="$COMMIT (+ uncommitted changes)"
fi

mkdir -p "$RESULTS"
log "running loadgen${QUICK:+ (quick)}"
set +e
"${PIN_LOAD[@]}" "${LOAD_PRIO[@]}" "$BIN/loadgen" run "${QUICK[@]}" \
    --direct-url "$DIRECT_URL" \
    --gateway-url "$GW_CHAT" \
    --gateway-pid "$GW_PID" \
    --date "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" \
    --commit "$COMMIT" \
    --pinning "$PINNING" \
    --out-md "$OUT_BASE.md" \
    --out-json "$OUT_BASE.json" \
    "${FEATURE_ARGS[@]}" "${NOTES[@]}" "${EXTRA[@]}"
rc=$?
set -e

if ! kill -0 "$GW_PID" 2>/dev/null; then
    log "the gateway (pid $GW_PID) is no longer running; last stderr lines:"
    tail -n 30 "$WORK/gateway.err" >&2 2>/dev/null || true
    rc=1
fi
if [[ $rc -eq 0 ]]; then
    log "wrote $OUT_BASE.md and $OUT_BASE.json"
else
    log "loadgen failed (exit $rc)"
    [[ -f "$WORK/gateway.err" ]] && { log "gateway stderr tail:"; tail -n 30 "$WORK/gateway.err" >&2; }
fi
exit "$rc"
