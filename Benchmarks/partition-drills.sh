#!/usr/bin/env bash
# Partition drills in network namespaces (needs root): each scenario RUNS times (default 5), with
# the drill's defaults (4 s lease renewed every 500 ms) or the detection/failover settings of a
# config file:  Benchmarks/partition-drills.sh [RUNS] [CONFIG] [SCENARIO...]
# A scenario written NAME@3 runs with three monitors over etcd (--monitors 3); monitor-crash and
# etcd-member-loss always do. CONFIG may be "" to keep the defaults.
# Prints each run's figures (RTO for the other region's client, promotions, writes the old primary
# acknowledged after the promotion, acknowledged writes lost, two-writable polls) and, per
# scenario, the median RTO and whether every run passed. Builds in release mode first.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
config="${2:-}"
shift $(( $# > 2 ? 2 : $# ))
scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(isolate-primary cut-monitor blip return-of-the-old-primary
                                          isolate-primary@3 blip@3 monitor-crash etcd-member-loss)
swift build -c release --product lifeboat >&2
status=0
for entry in "${scenarios[@]}"; do
    scenario="${entry%@*}"
    args=(drill --sandbox --scenario "$scenario" --runs "$runs" --json)
    [ "$entry" != "$scenario" ] && args+=(--monitors "${entry#*@}")
    [ -n "$config" ] && args+=(--config "$config")
    out="/tmp/lifeboat-partition-${entry/@/-monitors-}.json"
    .build/release/lifeboat "${args[@]}" > "$out" || status=1
    python3 - "$out" "$entry" <<'PY'
import json, statistics, sys
try:
    data = json.load(open(sys.argv[1]))
except ValueError:
    print(f"== {sys.argv[2]}: the drill stopped without a report (see its message above) ==")
    sys.exit(0)
runs = data["runs"] if "runs" in data else [data]
print(f"== {sys.argv[2]} ({len(runs)} runs, lease {runs[0]['partition']['lease_ttl']}) ==")
for i, r in enumerate(runs, 1):
    p = r["partition"]
    rto = r.get("rto_seconds")
    print(f"run {i}: RTO {'%.3fs' % rto if rto is not None else '-':>7}  promotions {r['promotions']}  "
          f"old-primary writes after promotion {r['writes_acked_by_old_primary_after_promotion']}  "
          f"acked writes lost {r['acked_writes_lost']}  two-writable polls {p['two_writable_polls']}/{p['writability_polls']}  "
          f"primary-region write gap {p['longest_primary_region_write_gap_seconds']:.3f}s  "
          f"{'passed' if r['passed'] else 'FAILED: ' + '; '.join(r['problems'])}")
rtos = [r["rto_seconds"] for r in runs if r.get("rto_seconds") is not None]
if rtos:
    print(f"median RTO: {statistics.median(rtos):.3f}s  (min {min(rtos):.3f}s, max {max(rtos):.3f}s)")
print(f"{sum(r['passed'] for r in runs)} of {len(runs)} runs passed")
PY
done
exit "$status"
