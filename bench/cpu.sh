#!/usr/bin/env bash
# CPU time the gateway spends per request, by thread, over one bench run.
#
#   bench/cpu.sh                      scenario 3 (closed loop, c=64)
#   bench/cpu.sh -- --scenarios 1     any `loadgen run` arguments
#   BENCH_GATEWAY_CONFIG=... bench/cpu.sh   config lines, as for run.sh
#
# Runs `bench/run.sh --no-build` (build first), samples every thread of the
# gateway process (/proc/PID/task/*/schedstat: nanoseconds on a CPU) from start
# to end, and divides by the requests the gateway counted
# (`switchyard_requests_total` on /metrics). Unlike throughput, which moves
# ±10 % between runs of one binary on a shared 2-core machine, this figure
# repeats within a few per cent, so it is the one to compare two builds by.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/switchyard-target}"
BIN="$CARGO_TARGET_DIR/release/switchyard"
[[ "${1:-}" == "--" ]] && shift
ARGS=("$@")
[[ ${#ARGS[@]} -eq 0 ]] && ARGS=(--scenarios 3)

OUT="$(mktemp -d "${TMPDIR:-/tmp}/switchyard-cpu.XXXXXX")"
"$ROOT/bench/run.sh" --no-build -- "${ARGS[@]}" >"$OUT/run.log" 2>&1 &
RUN=$!

GW=""
for _ in $(seq 1 600); do
    GW="$(pgrep -f "^$BIN serve" | head -n 1 || true)"
    [[ -n "$GW" ]] && break
    sleep 0.1
done
[[ -z "$GW" ]] && { echo "cpu.sh: no gateway appeared; see $OUT/run.log" >&2; exit 1; }
PORT=""
for _ in $(seq 1 300); do
    PORT="$(ss -ltnpH 2>/dev/null | grep "pid=$GW," | sed -n 's/.*127\.0\.0\.1:\([0-9]*\) .*/\1/p' | head -n 1)"
    [[ -n "$PORT" ]] && break
    sleep 0.1
done

# One line per thread: "tid comm ns".
sample() {
    local t
    for t in /proc/"$GW"/task/*; do
        printf '%s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm")" "$(cut -d' ' -f1 <"$t/schedstat")"
    done 2>/dev/null
}
sample >"$OUT/first"
while kill -0 "$GW" 2>/dev/null; do
    # Every sample is kept: a thread that ends before the process (the log writer, after
    # its last flush) counts with the last figure it showed.
    sample >>"$OUT/samples"
    curl -sf "http://127.0.0.1:$PORT/metrics" >"$OUT/next.metrics" 2>/dev/null \
        && mv "$OUT/next.metrics" "$OUT/last.metrics"
    sleep 0.5
done
wait "$RUN" || { echo "cpu.sh: run.sh failed; see $OUT/run.log" >&2; exit 1; }

REQUESTS="$(awk '/^switchyard_requests_total/ { n += $2 } END { print n + 0 }' "$OUT/last.metrics")"
echo "requests counted: $REQUESTS (run log: $OUT/run.log)"
awk -v n="$REQUESTS" '
    NR == FNR { start[$1] = $3; next }
    { if (!($1 in last) || $3 > last[$1]) { last[$1] = $3; comm[$1] = $2 } }
    END {
        for (t in last) {
            used = last[t] - (t in start ? start[t] : 0); by[comm[t]] += used; total += used
        }
        for (c in by) if (by[c] > 0) printf "  %-24s %7.2f us/request\n", c, by[c] / n / 1000
        printf "  %-24s %7.2f us/request\n", "TOTAL", total / n / 1000
    }' "$OUT/first" "$OUT/samples" | sort -k2 -n -r
grep -E "throughput|req/s" "$ROOT/bench/results/latest.md" | head -n 5 || true
