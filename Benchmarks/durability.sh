#!/usr/bin/env bash
# Acknowledged writes lost when the primary is killed, with durability: sync and with async, under
# a write load of several writers (default 8, each without pause):
#   Benchmarks/durability.sh [RUNS] [WRITERS]        (defaults 5 and 8)
# Prints, per drill: writes/s before the kill, acknowledged writes lost, RTO; and a summary line
# per mode. sync runs with when_short: async (after the kill the new primary has no standby to wait
# for until the old one rejoins). Builds in release mode first.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
writers="${2:-8}"
swift build -c release --product lifeboat >&2
status=0
for mode in sync async; do
    args=(drill --sandbox --runs "$runs" --json --writers "$writers" --durability "$mode")
    [ "$mode" = sync ] && args+=(--when-short async)
    .build/release/lifeboat "${args[@]}" > "/tmp/lifeboat-durability-$mode.json" || status=$?
    python3 - "/tmp/lifeboat-durability-$mode.json" "$mode" <<'PY'
import json, statistics, sys
data = json.load(open(sys.argv[1])); mode = sys.argv[2]
runs = data["runs"] if "runs" in data else [data]
for i, r in enumerate(runs, 1):
    rate = r.get("writes_per_second") or 0
    rto = r.get("rto_seconds")
    print(f"{mode} drill {i}: {rate:.0f} writes/s before the kill, {r['rpo_lost_writes']} acknowledged writes lost, "
          f"RTO {rto:.3f}s, {'passed' if r['passed'] else 'FAILED: ' + '; '.join(r['problems'])}" if rto is not None
          else f"{mode} drill {i}: no RTO ({'; '.join(r['problems'])})")
lost = [r["rpo_lost_writes"] for r in runs]
rates = [r.get("writes_per_second") or 0 for r in runs]
zero = sum(1 for n in lost if n == 0)
print(f"{mode}: {zero} of {len(runs)} drills lost no acknowledged write (lost: {lost}); median {statistics.median(rates):.0f} writes/s")
PY
done
exit "$status"
