#!/usr/bin/env bash
# CPU per event of a real shipper with and without the rules, as docs/performance.md
# ("Inside the shippers") reports it. Run from the repository root after
#   cargo build --release && cargo xtask fluent-bit
#   target/release/firehose generate --events 100000 --seed 42 --output /tmp/leads.ndjson
# with `fluent-bit` and `vector` on PATH (or FLUENT_BIT=..., VECTOR=...):
#   bench/shippers/measure.sh fluent-bit-without | fluent-bit-with | vector-none | vector-vrl | vector-sidecar
# and, for the plugin's cost with other rules, fluent-bit-nostamp | fluent-bit-noop | fluent-bit-filter-mask.
# Prints one line: CPU ticks (utime + stime from /proc, 100 per second) of every process
# involved, read once the output holds every event, and µs of CPU per input event.
# Alternate the cases a few times: the figures move with whatever else the machine runs.
set -euo pipefail
case=$1
events=$(wc -l < /tmp/leads.ndjson)
kept=74192 # events the demo rules keep of `generate --events 100000 --seed 42`
fluent_bit=${FLUENT_BIT:-fluent-bit}
vector=${VECTOR:-vector}
work=/tmp/firehose-shippers
ticks() { local s; read -r -a s < "/proc/$1/stat"; echo $((s[13] + s[14])); }
wait_for_lines() { # FILE COUNT
    for _ in $(seq 3000); do
        [ -f "$1" ] && [ "$(wc -l < "$1")" -ge "$2" ] && return 0
        sleep 0.1
    done
    echo "stalled: $1 has $(wc -l < "$1" 2>/dev/null || echo 0) of $2 lines" >&2
    return 1
}
rm -rf "$work" /tmp/firehose-out && mkdir -p "$work/out" /tmp/firehose-out
pids=()
case $case in
fluent-bit-without | fluent-bit-with | fluent-bit-nostamp | fluent-bit-noop | fluent-bit-filter-mask)
    # The last three run bench/shippers/pipeline-CASE.yaml, named by FIREHOSE_PIPELINE.
    conf=bench/shippers/fluent-bit-pipeline.conf expect=$events out=/tmp/firehose-out/leads
    case $case in
    fluent-bit-without) conf=bench/shippers/fluent-bit-no-filter.conf ;;
    fluent-bit-with) conf=fluent-bit-examples/local/fluent-bit.conf expect=$kept ;;
    fluent-bit-filter-mask) expect=$kept ;;
    esac
    FIREHOSE_PIPELINE=bench/shippers/pipeline-${case#fluent-bit-}.yaml \
        "$fluent_bit" -c "$conf" > "$work/fluent-bit.log" 2>&1 &
    pids+=($!)
    ;;
vector-none | vector-vrl | vector-sidecar)
    name=${case#vector-} expect=$kept out=$work/out/$name.ndjson
    [ "$name" = none ] && expect=$events
    if [ "$name" = sidecar ]; then
        target/release/firehose serve --pipeline vector-examples/http/pipeline.yaml --listen 127.0.0.1:8787 \
            --forward http://127.0.0.1:8788/ --dead-letter "$work/dead.ndjson" > "$work/firehose.log" 2>&1 &
        pids+=($!)
        for _ in $(seq 100); do curl -sf http://127.0.0.1:8787/health > /dev/null && break; sleep 0.1; done
    fi
    # A fifo kept open: Vector stops at the end of stdin, which would cut the HTTP loop short.
    mkfifo "$work/in"
    "$vector" --config "bench/shippers/vector-$name.yaml" < "$work/in" > "$work/vector.log" 2>&1 &
    pids+=($!)
    setsid bash -c 'cat /tmp/leads.ndjson; exec sleep 100000' > "$work/in" &
    feeder=$!
    ;;
*) echo "usage: $0 fluent-bit-without|fluent-bit-with|fluent-bit-nostamp|fluent-bit-noop|fluent-bit-filter-mask|vector-none|vector-vrl|vector-sidecar" >&2; exit 2 ;;
esac
wait_for_lines "$out" "$expect"
total=0
for pid in "${pids[@]}"; do total=$((total + $(ticks "$pid"))); done
[ -n "${feeder:-}" ] && kill -- "-$feeder" 2> /dev/null || true
kill -TERM "${pids[@]}" 2> /dev/null || true
wait "${pids[@]}" 2> /dev/null || true
echo "$case ticks=$total us_per_event=$(echo "scale=2; $total * 1000000 / 100 / $events" | bc) lines=$(wc -l < "$out")"
