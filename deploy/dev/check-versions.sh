#!/usr/bin/env bash
# Fails when modules of the workspace require different versions of the
# libraries that must move together (grpc, protobuf, OpenTelemetry, pgx).
set -euo pipefail
status=0
for lib in google.golang.org/grpc google.golang.org/protobuf go.opentelemetry.io/otel github.com/jackc/pgx/v5 github.com/grpc-ecosystem/grpc-gateway/v2; do
  versions=$(for m in "$@"; do awk -v l="$lib" '$1==l {print $2} $1=="require" && $2==l {print $3}' "$m/go.mod"; done | sort -u)
  if [ "$(printf '%s\n' "$versions" | grep -c .)" -gt 1 ]; then
    echo "modules disagree on $lib: $(echo $versions)" >&2; status=1
  fi
done
exit $status
