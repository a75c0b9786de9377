#!/usr/bin/env bash
# Median RTO of N sandbox drills (default 5) with the default detection settings, or with the
# detection/failover settings of a config file:  Benchmarks/drill-rto.sh [RUNS] [CONFIG]
# Prints every drill's RTO and RPO and the median RTO. Builds in release mode first.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
config="${2:-}"
swift build -c release --product lifeboat >&2
args=(drill --sandbox --runs "$runs" --json)
[ -n "$config" ] && args+=(--config "$config")
.build/release/lifeboat "${args[@]}" > /tmp/lifeboat-drill-rto.json || status=$?
python3 - /tmp/lifeboat-drill-rto.json <<'PY'
import json, statistics, sys
data = json.load(open(sys.argv[1]))
runs = data["runs"] if "runs" in data else [data]
d = runs[0]["detection"]
print(f"detection: interval {d['interval']}, timeout {d['timeout']}, suspect interval {d['suspect_interval']}, "
      f"failure threshold {d['failure_threshold']}, recovery threshold {d['recovery_threshold']}")
for i, r in enumerate(runs, 1):
    rto = r.get("rto_seconds")
    print(f"drill {i}: RTO {rto:.3f}s  DNS {(r.get('traffic_switch_seconds') or 0) * 1000:.1f}ms  RPO {r['rpo_lost_writes']} writes ({r['rpo_seconds']:.3f}s)  promotions {r['promotions']}  {'passed' if r['passed'] else 'FAILED'}"
          if rto is not None else f"drill {i}: no RTO ({'; '.join(r['problems'])})")
rtos = [r["rto_seconds"] for r in runs if r.get("rto_seconds") is not None]
if rtos:
    print(f"median RTO over {len(rtos)} drills: {statistics.median(rtos):.3f}s")
done = [r["failover_seconds"] for r in runs if r.get("failover_seconds") is not None]
if done:
    print(f"median fault -> failover complete: {statistics.median(done):.3f}s")
dns = [r["traffic_switch_seconds"] for r in runs if r.get("traffic_switch_seconds") is not None]
if dns:
    print(f"median DNS switch + verification: {statistics.median(dns) * 1000:.1f}ms")
for key, label in [("before_fault", "files, primary -> standby region before the fault"),
                   ("after_failover", "files, new primary -> old primary region after the failover")]:
    times = [t["seconds"] for r in runs if r.get("files") for t in r["files"][key] if t.get("seconds") is not None]
    missing = sum(1 for r in runs if r.get("files") for t in r["files"][key] if t.get("seconds") is None)
    if times or missing:
        print(f"median {label}: {statistics.median(times):.3f}s" + (f" ({missing} never arrived)" if missing else ""))
PY
exit "${status:-0}"
