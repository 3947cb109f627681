#!/usr/bin/env bash
# make bench: loads the customer service over gRPC and through the REST edge,
# a bare grpc-go + pgx baseline, and PostgreSQL itself (pgbench), and prints
# requests per second, latency percentiles, the ratios the project tracks and
# the services' memory. It prints figures and never fails on a timing.
#
# Uses the suite of a `make run` in another terminal when the edge answers
# /readyz; otherwise starts one (without demo data) and stops it at the end.
#   BENCH_DURATION   seconds of load per target (default 15)
#   BENCH_CUSTOMERS  bench customers to make sure exist (default 10000)
#   BENCH_BULK       generated customers to add to the bench tenant by COPY
#                    (once; e.g. 1000000), which also adds the search targets
#                    and a timed duplicate scan (default 0: none)
#   BENCH_SCAN_LIMIT how long to watch that scan (default 15m)
#   BENCH_TICKETS    1 also loads the ticket service: ticket create, public
#                    reply and status transition over gRPC and REST
#                    (default 0; the SLA sweep over 1 M tickets is
#                    make bench-sla)
#   BENCH_PIPELINE   "1" also times the pipeline service (cmd/pipelinebench,
#                    which bulk-loads BENCH_OPPORTUNITIES, default 100000,
#                    opportunities); "only" times nothing else
# shellcheck disable=SC2046 # lists of pids are split into words on purpose
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
state=.rapport
bin=$state/bin
work=$state/bench
duration=${BENCH_DURATION:-15}
duration=${duration%s}
customers=${BENCH_CUSTOMERS:-10000}
bulk=${BENCH_BULK:-0}
tickets=${BENCH_TICKETS:-0}
pg_port=55432
# shellcheck disable=SC2012 # the same lookup as deploy/dev/pg.sh
pg_bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
grpc_addr=127.0.0.1:9091
ticket_addr=127.0.0.1:9093
rest_url=http://127.0.0.1:8080
baseline_addr=127.0.0.1:9191
key_file=$state/admin-api-key
export GOFLAGS=${GOFLAGS:--buildvcs=false}

pg_url() { echo "postgres://postgres@127.0.0.1:$pg_port/$1?sslmode=disable"; }
psql_at() { "$pg_bin/psql" "$(pg_url "$1")" -XAtqc "$2"; }

suite_pid='' baseline_pid=''
cleanup() {
  if [ -n "$baseline_pid" ]; then
    kill -INT "$baseline_pid" 2>/dev/null || true
    wait "$baseline_pid" 2>/dev/null || true
  fi
  if [ -n "$suite_pid" ]; then
    echo "stopping the suite …"
    # The suite runs in its own process group (setsid below): go run and
    # the launcher it runs both get the signal, and the launcher stops the
    # services and PostgreSQL before it exits.
    kill -INT -- "-$suite_pid" 2>/dev/null || true
    wait "$suite_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for_line <pid> <log> <text> <seconds>: waits until the process prints
# text, failing if it exits first or time runs out.
wait_for_line() {
  local pid=$1 log=$2 text=$3 deadline=$((SECONDS + $4))
  until grep -qsF "$text" "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "bench: process $pid exited while starting; the end of $log:" >&2
      tail -n 30 "$log" >&2
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "bench: no \"$text\" in $log after $4 s" >&2
      exit 1
    fi
    sleep 0.5
  done
}

mkdir -p "$work"
go build -o "$work/load" ./deploy/bench/cmd/load
go build -o "$work/baseline" ./deploy/bench/cmd/baseline
go build -o "$work/pipelinebench" ./deploy/bench/cmd/pipelinebench

echo "== Rapport bench: $(nproc) cores; the load generator shares them with the suite and PostgreSQL"
if curl -fsS -o /dev/null --max-time 2 "$rest_url/readyz" 2>/dev/null; then
  echo "== using the running suite ($rest_url)"
else
  echo "== starting the suite (log: $work/suite.log) …"
  setsid go run ./deploy/dev/cmd/rapport-dev -root . -state "$state" -bin "$bin" -demo=false >"$work/suite.log" 2>&1 &
  suite_pid=$!
  wait_for_line "$suite_pid" "$work/suite.log" "Press Ctrl-C to stop." 300
fi

pipeline_bench() {
  echo "== pipeline service"
  "$work/pipelinebench" -key-file "$key_file" -db "$(pg_url rapport_pipeline)" -d "${duration}s" -n "${BENCH_OPPORTUNITIES:-100000}"
}
if [ "${BENCH_PIPELINE:-}" = only ]; then
  pipeline_bench
  exit 0
fi

echo "== seeding"
"$work/load" seed -grpc "$grpc_addr" -key-file "$key_file" -n "$customers" -ids "$work/ids"
# The seed writes rows faster than autovacuum (one-minute naptime) notices:
# without fresh statistics the planner sorts the tenant's every row for
# each page of ListCustomers instead of walking the create_time index.
psql_at rapport_customer "ANALYZE customers"
tenant=$(psql_at rapport_customer "SELECT tenant_id FROM customers WHERE customer_id = '$(head -n1 "$work/ids")'")
other_targets=grpc-list,rest-list,grpc-create,rest-create
if [ "$bulk" -gt 0 ]; then
  echo "== adding $bulk generated customers to the bench tenant (COPY, once; see services/customer/cmd/searchbench)"
  go run ./services/customer/cmd/searchbench -db "$(pg_url postgres)" -dbname rapport_customer -tenant "$tenant" \
    -customers "$bulk" -runs 0 -queries-out "$work/queries"
  echo "tenant now holds $(psql_at rapport_customer "SELECT count(*) FROM customers WHERE tenant_id = '$tenant'") customers"
  other_targets=grpc-list,rest-list,grpc-search,rest-search,grpc-create,rest-create
fi

echo "== starting the baseline on $baseline_addr"
"$work/baseline" -addr "$baseline_addr" -db "$(pg_url rapport_customer)" -tenant "$tenant" >"$work/baseline.log" 2>&1 &
baseline_pid=$!
wait_for_line "$baseline_pid" "$work/baseline.log" "baseline serving" 30

# The processes whose CPU use each phase reports, found by full path so that
# binaries of other checkouts are left out: the two under test, the other
# services together as "peers", and PostgreSQL as its postmaster (the load
# generator counts its children, the backends, with it).
pids_of() { pgrep -f "^$root/$bin/$1( |\$)" || true; }
watch=''
add_watch() {
  local label=$1 pid
  shift
  for pid in "$@"; do watch+="${watch:+,}$label=$pid"; done
}
add_watch customer $(pids_of customer)
add_watch gateway $(pids_of gateway)
add_watch baseline "$baseline_pid"
add_watch ticket $(pids_of ticket)
add_watch peers $(pids_of pipeline) $(pids_of partner) $(pids_of analytics)
add_watch postgres $(head -n1 "$(psql_at postgres "SHOW data_directory")/postmaster.pid" 2>/dev/null || true)

load_run() {
  "$work/load" run -grpc "$grpc_addr" -rest "$rest_url" -baseline "$baseline_addr" -ticket-grpc "$ticket_addr" -key-file "$key_file" \
    -ids "$work/ids" -queries "$work/queries" -c 50 -d "${duration}s" -watch "$watch" "$@"
}
echo "== load"
# The three GetCustomer variants take turns in three rounds: the machine's
# speed drifts by tens of percent over minutes (it is shared), and the
# ratios between them are what the project tracks.
load_run -targets grpc-get,baseline-get,rest-get -rounds 3 -warmup 1s -summary "$work/summary-get.tsv"
load_run -targets "$other_targets" -warmup 2s -summary "$work/summary-other.tsv"
if [ "$tickets" = 1 ]; then
  # Creates, replies and transitions each write a row, an event and an
  # audit row; the customer service answers each create's existence check.
  load_run -targets grpc-ticket-create,rest-ticket-create,grpc-ticket-comment,rest-ticket-comment,grpc-ticket-transition,rest-ticket-transition \
    -warmup 2s -summary "$work/summary-tickets.tsv"
else
  : >"$work/summary-tickets.tsv"
fi
cat "$work/summary-get.tsv" "$work/summary-other.tsv" "$work/summary-tickets.tsv" >"$work/summary.tsv"

rss() {
  local pid out=''
  for pid in "$@"; do
    out+=$(awk '/^VmRSS/ {printf " %.0f MB", $2 / 1024}' "/proc/$pid/status" 2>/dev/null || true)
  done
  echo "${out:- not running}"
}
echo "== memory after the load (VmRSS)"
echo "customer:$(rss $(pids_of customer))   ticket:$(rss $(pids_of ticket))   gateway:$(rss $(pids_of gateway))   baseline:$(rss "$baseline_pid")"

kill -INT "$baseline_pid" 2>/dev/null || true
wait "$baseline_pid" || true
baseline_pid=''

if [ "$bulk" -gt 0 ]; then
  echo "== duplicate scan of the bench tenant"
  "$work/load" scan -grpc "$grpc_addr" -key-file "$key_file" -limit "${BENCH_SCAN_LIMIT:-15m}"
  echo "customer RSS after the scan:$(rss $(pids_of customer))"
fi

echo "== pgbench -S: 8 clients, prepared, ${duration} s (database bench_pgbench, scale 10)"
if [ "$(psql_at postgres "SELECT count(*) FROM pg_database WHERE datname = 'bench_pgbench'")" = 0 ]; then
  psql_at postgres "CREATE DATABASE bench_pgbench"
fi
if [ "$(psql_at bench_pgbench "SELECT count(*) FROM pgbench_branches" 2>/dev/null || true)" != 10 ]; then
  "$pg_bin/pgbench" -i -s 10 -q "$(pg_url bench_pgbench)" 2>&1 | tail -n1
fi
"$pg_bin/pgbench" -S -n -c 8 -j 2 -M prepared -T "$duration" "$(pg_url bench_pgbench)" >"$work/pgbench.log" 2>&1
pgbench_tps=$(awk '/^tps = / {print $3; exit}' "$work/pgbench.log")
echo "pgbench -S: $(printf '%.0f' "$pgbench_tps") tps, $(grep -m1 '^latency average' "$work/pgbench.log")"

rps() { awk -F'\t' -v t="$1" '$1 == t {print $2}' "$work/summary.tsv"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.0f %%", 100 * a / b; else printf "n/a" }'; }
echo "== ratios"
echo "GetCustomer gRPC ÷ baseline:  $(ratio "$(rps grpc-get)" "$(rps baseline-get)")   (goal ≥ 70 %)"
echo "GetCustomer REST ÷ baseline:  $(ratio "$(rps rest-get)" "$(rps baseline-get)")   (goal ≥ 50 %)"
echo "baseline ÷ pgbench -S TPS:    $(ratio "$(rps baseline-get)" "$pgbench_tps")"
if [ "${BENCH_PIPELINE:-}" = 1 ]; then
  pipeline_bench
fi
