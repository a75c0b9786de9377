#!/usr/bin/env bash
# Throughput and tail latency of the agent's /healthz with the PostgreSQL check on, under
# wrk (2 threads, 64 connections, 10 s) on loopback: Benchmarks/agent-healthz.sh [DURATION]
# Starts a throwaway PostgreSQL (as the postgres user when root) and a release-built agent, runs
# wrk with the default 1 s result cache and again with no cache, and prints requests/s, p99 and
# how many database sessions the checks opened. Needs wrk, PostgreSQL and root or a postgres-less
# setup where this user can run initdb. Installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10s}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries are missing: apt-get install -y postgresql" >&2; exit 1; }
swift build -c release --product lifeboat >&2

work=$(mktemp -d /tmp/lifeboat-bench-XXXXXX)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
pgport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
agentport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  [ -n "${agent:-}" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null || true
  as_pg "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
as_pg "$bin/initdb" -D "$work/data" -U postgres --auth=trust >/dev/null
as_pg "$bin/pg_ctl" -D "$work/data" -o "-p $pgport -k $work -c listen_addresses=127.0.0.1" -l "$work/pg.log" -w start >/dev/null
head -c 32 /dev/urandom | base64 > "$work/agent.key"
sessions() { as_pg "$bin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -Atc "SELECT sessions FROM pg_stat_database WHERE datname = 'postgres'"; }

run() {  # $1: cache setting
  cat > "$work/agent.yml" <<YML
node: bench
region: local
listen: 127.0.0.1:$agentport
key_file: $work/agent.key
cache: $1
database: {host: 127.0.0.1, port: $pgport, user: postgres}
checks:
  - {name: database, type: postgresql, timeout: 1s}
  - {name: pg-port, type: tcp, address: "127.0.0.1:$pgport", timeout: 500ms}
YML
  .build/release/lifeboat agent --config "$work/agent.yml" --log-level warning 2>"$work/agent.log" &
  agent=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$agentport") 2>/dev/null && break; sleep 0.1; done
  before=$(sessions)
  out=$(wrk -t2 -c64 -d"$duration" --latency "http://127.0.0.1:$agentport/healthz")
  after=$(sessions)
  kill "$agent"; wait "$agent" 2>/dev/null || true; agent=
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  errors=$(awk '/Socket errors/ {print}' <<<"$out")
  echo "cache $1: ${rps} requests/s, p50 ${p50}, p99 ${p99}, non-2xx ${non2xx:-0}, database sessions opened $((after - before - 1))${errors:+, $errors}"
}

echo "agent /healthz, postgresql + tcp checks, wrk -t2 -c64 -d$duration on loopback ($(nproc) cores)"
run 1s
run 0s
