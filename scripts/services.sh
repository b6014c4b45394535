#!/usr/bin/env bash
# Starts the servers the tests talk to, on loopback ports, and prints the variables the tests read.
#   scripts/services.sh start    install what is missing (Debian packages), start, wait until ready
#   scripts/services.sh stop     stop what this script started
#   scripts/services.sh env      print the exports again
#   scripts/services.sh cluster  PostgreSQL and a local three-node NATS cluster, for scripts/demo-cluster.sh
# Each service is a pair of functions (start_NAME, stop_NAME) plus its line in print_env; add nats and
# postgres the same way.
set -euo pipefail

STATE_DIR="${USINE_SERVICES_DIR:-${TMPDIR:-/tmp}/usine-services}"
MQTT_PORT="${USINE_MQTT_PORT:-18830}"
APT_UPDATED=0

log() { echo "services: $*" >&2; }

apt_install() {
    if [[ $APT_UPDATED -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Succeeds once something accepts TCP connections on 127.0.0.1:$1; gives up after $2 seconds.
wait_for_port() {
    local port=$1 seconds=$2 i
    for ((i = 0; i < seconds * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Whether the process in pid file $1 is alive.
running() {
    [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

stop_pidfile() {
    local name=$1 pidfile=$2 pid i
    if running "$pidfile"; then
        pid=$(cat "$pidfile")
        kill "$pid"
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        log "$name stopped"
    fi
    rm -f "$pidfile"
}

# --- mosquitto -------------------------------------------------------------------------------------

MQTT_DIR="$STATE_DIR/mosquitto"
MQTT_PID="$MQTT_DIR/mosquitto.pid"

start_mosquitto() {
    if ! command -v mosquitto >/dev/null 2>&1 && [[ ! -x /usr/sbin/mosquitto ]]; then
        log "installing mosquitto"
        apt_install mosquitto
    fi
    local bin
    bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

    if running "$MQTT_PID"; then
        log "mosquitto already running (pid $(cat "$MQTT_PID"))"
        return
    fi

    mkdir -p "$MQTT_DIR"
    # max_inflight_messages 0 lifts the default cap of 20 unacknowledged QoS 1 messages per client,
    # which would otherwise bound a consumer that acknowledges after a batch commit to 20 per commit.
    cat >"$MQTT_DIR/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence false
max_inflight_messages 0
max_queued_messages 1000000
max_queued_bytes 0
log_dest file $MQTT_DIR/mosquitto.log
log_type error
log_type warning
log_type notice
CONF
    # mosquitto refuses to run as root unless told which user to switch to.
    if [[ $(id -u) -eq 0 ]]; then
        echo "user root" >>"$MQTT_DIR/mosquitto.conf"
    fi

    "$bin" -c "$MQTT_DIR/mosquitto.conf" >>"$MQTT_DIR/mosquitto.out" 2>&1 &
    echo $! >"$MQTT_PID"
    if ! wait_for_port "$MQTT_PORT" 10; then
        log "mosquitto did not open port $MQTT_PORT; see $MQTT_DIR/mosquitto.log and mosquitto.out"
        exit 1
    fi
    log "mosquitto listening on 127.0.0.1:$MQTT_PORT (pid $(cat "$MQTT_PID"))"
}

stop_mosquitto() {
    stop_pidfile mosquitto "$MQTT_PID"
}

# --- chromium (for the web UI tests; nothing to start, Playwright launches it) -----------------------

CHROMIUM="${USINE_CHROMIUM:-/usr/bin/chromium}"

install_chromium() {
    if [[ ! -x $CHROMIUM ]]; then
        log "installing chromium"
        apt_install chromium
        CHROMIUM=/usr/bin/chromium
    fi
    log "chromium at $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -1))"
}

# --- nats-server (the cluster tests start their own three-node clusters from it, so they can stop nodes) ---

NATS_SERVER="${USINE_NATS_SERVER:-}"

install_nats() {
    if [[ -z $NATS_SERVER ]]; then
        NATS_SERVER=$(command -v nats-server || ls /usr/sbin/nats-server 2>/dev/null || true)
    fi
    if [[ -z $NATS_SERVER ]]; then
        log "installing nats-server"
        apt_install nats-server
        NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
    fi
    log "nats-server at $NATS_SERVER ($("$NATS_SERVER" --version 2>/dev/null | head -1))"
}

# A local three-node cluster for scripts/demo-cluster.sh (the tests start clusters of their own).
NATS_DEMO_DIR="$STATE_DIR/nats-demo"
NATS_DEMO_PORTS=(14222 14223 14224)

start_nats_cluster() {
    install_nats
    mkdir -p "$NATS_DEMO_DIR"
    local i routes="nats-route://127.0.0.1:16222, nats-route://127.0.0.1:16223, nats-route://127.0.0.1:16224"
    for i in 0 1 2; do
        if running "$NATS_DEMO_DIR/n$i.pid"; then
            continue
        fi
        cat >"$NATS_DEMO_DIR/n$i.conf" <<CONF
server_name: demo-$i
listen: 127.0.0.1:${NATS_DEMO_PORTS[$i]}
jetstream { store_dir: "$NATS_DEMO_DIR/n$i" }
cluster { name: usine-demo, listen: 127.0.0.1:$((16222 + i)), routes: [$routes] }
CONF
        "$NATS_SERVER" -c "$NATS_DEMO_DIR/n$i.conf" >>"$NATS_DEMO_DIR/n$i.log" 2>&1 &
        echo $! >"$NATS_DEMO_DIR/n$i.pid"
    done
    for i in 0 1 2; do
        wait_for_port "${NATS_DEMO_PORTS[$i]}" 20 || { log "nats-server demo-$i did not start; see $NATS_DEMO_DIR/n$i.log"; exit 1; }
    done
    log "nats-server cluster listening on 127.0.0.1:${NATS_DEMO_PORTS[*]}"
}

stop_nats_cluster() {
    local i
    for i in 0 1 2; do
        stop_pidfile "nats-server demo-$i" "$NATS_DEMO_DIR/n$i.pid"
    done
}

# --- postgresql ------------------------------------------------------------------------------------

PG_PORT="${USINE_POSTGRES_PORT:-15432}"
PG_DIR="$STATE_DIR/postgres"
PG_DATA="$PG_DIR/data"

# The Debian cluster binaries (postgresql-15, or whichever version is installed).
pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    echo "${dir:-/usr/lib/postgresql/15/bin}"
}

# PostgreSQL refuses to run as root: as root, its commands run as the postgres user, which owns the directory.
as_pg() {
    if [[ $(id -u) -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    if [[ ! -x "$(pg_bin)/pg_ctl" ]]; then
        log "installing postgresql"
        apt_install postgresql
    fi
    local bin
    bin=$(pg_bin)
    mkdir -p "$PG_DIR"
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$PG_DIR"
    fi
    if as_pg "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
        log "postgresql already running on 127.0.0.1:$PG_PORT"
        return
    fi
    if [[ ! -f $PG_DATA/PG_VERSION ]]; then
        as_pg "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || {
            log "initdb failed; see $PG_DIR/initdb.log"
            exit 1
        }
        # A private test cluster: loopback only, no durability (fsync off is for tests, never for production).
        cat >>"$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
timezone = 'UTC'
CONF
    fi
    if ! as_pg "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_DIR/postgres.log" -w -t 30 start >/dev/null; then
        log "postgresql did not start; see $PG_DIR/postgres.log"
        exit 1
    fi
    log "postgresql listening on 127.0.0.1:$PG_PORT"
}

stop_postgres() {
    if [[ -f $PG_DATA/postmaster.pid ]]; then
        as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null && log "postgresql stopped"
    fi
}

# --- sparkplug edge node (npm: sparkplug-client 3.2.4, sparkplug-payload 1.0.3; nothing to start) ------

SPARKPLUG_EDGE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/sparkplug-edge"

start_sparkplug_edge() {
    if [[ -d $SPARKPLUG_EDGE_DIR/node_modules/sparkplug-client && -d $SPARKPLUG_EDGE_DIR/node_modules/sparkplug-payload ]]; then
        log "sparkplug edge node packages present in $SPARKPLUG_EDGE_DIR"
        return
    fi
    if ! command -v npm >/dev/null 2>&1; then
        log "installing npm"
        apt_install npm
    fi
    log "installing the sparkplug edge node packages into $SPARKPLUG_EDGE_DIR"
    (cd "$SPARKPLUG_EDGE_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
}

stop_sparkplug_edge() {
    : # the tests start and stop their edge nodes themselves
}

# --- OPC UA test server (node-opcua, tests/opcua-server; each test class starts its own on a free port) ---

OPCUA_SERVER_DIR="${USINE_OPCUA_SERVER_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/opcua-server}"

install_opcua_server() {
    if ! command -v node >/dev/null 2>&1; then
        log "installing nodejs and npm"
        apt_install nodejs npm
    fi
    if [[ ! -d $OPCUA_SERVER_DIR/node_modules/node-opcua ]]; then
        log "installing node-opcua into $OPCUA_SERVER_DIR"
        (cd "$OPCUA_SERVER_DIR" && npm install --no-audit --no-fund --loglevel=error >&2)
    fi
    log "OPC UA test server in $OPCUA_SERVER_DIR (node $(node --version))"
}

# ---------------------------------------------------------------------------------------------------

print_env() {
    echo "export USINE_TEST_MQTT=mqtt://127.0.0.1:$MQTT_PORT"
    echo "export USINE_CHROMIUM=$CHROMIUM"
    echo "export USINE_NATS_SERVER=${NATS_SERVER:-/usr/sbin/nats-server}"
    echo "export USINE_SPARKPLUG_EDGE=$SPARKPLUG_EDGE_DIR/edge.js"
    echo "export USINE_OPCUA_SERVER_DIR=$OPCUA_SERVER_DIR"
    # Playwright drives the Debian chromium above; it must never fetch a browser of its own.
    echo "export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1"
    echo "export USINE_TEST_POSTGRES=\"Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=postgres\""
}

case "${1:-}" in
    start)
        start_mosquitto
        install_chromium
        install_nats
        start_postgres
        start_sparkplug_edge
        install_opcua_server
        print_env
        ;;
    stop)
        stop_mosquitto
        stop_postgres
        stop_sparkplug_edge
        ;;
    env)
        print_env
        ;;
    cluster)
        start_postgres
        start_nats_cluster
        print_env
        echo "export USINE_DEMO_NATS=nats://127.0.0.1:14222,nats://127.0.0.1:14223,nats://127.0.0.1:14224"
        ;;
    stop-cluster)
        stop_nats_cluster
        stop_postgres
        ;;
    *)
        echo "usage: $0 start|stop|env|cluster|stop-cluster" >&2
        exit 2
        ;;
esac
