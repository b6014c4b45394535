#!/usr/bin/env bash
# The demo in cluster mode, on this machine: starts PostgreSQL and a three-node NATS JetStream cluster on
# loopback (installing them from Debian packages if missing), then the demo — its simulator's sources captured
# into JetStream, processed and committed to PostgreSQL, served on http://127.0.0.1:5080 — and a second
# processor beside it. Ctrl-C stops Usine; `scripts/services.sh stop-cluster` stops the servers.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(bash scripts/services.sh cluster)"
DATA="${USINE_DEMO_DATA:-./.usine-demo-cluster}"
PG="$USINE_TEST_POSTGRES"
export Usine__Store__Schema=usine_demo

dotnet build src/Usine.Cli -c Release -nologo -v q
USINE="dotnet src/Usine.Cli/bin/Release/net10.0/usine.dll"

# The demo writes its definitions under $DATA/config; the second processor reads the same file.
$USINE demo --data "$DATA" --nats "$USINE_DEMO_NATS" --postgres "$PG" &
demo=$!
trap 'kill $demo ${second:-} 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 120); do
    [[ -f $DATA/config/usine.yaml ]] && break
    sleep 0.5
done
$USINE serve --role process --config "$DATA/config/usine.yaml" --data "$DATA/process-2" --urls http://127.0.0.1:5081 \
    --nats "$USINE_DEMO_NATS" --postgres "$PG" &
second=$!
echo "demo: http://127.0.0.1:5080 (usine status --server http://127.0.0.1:5080 lists both processors)" >&2
wait $demo
