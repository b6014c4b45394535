#!/usr/bin/env bash
# Starts the servers the tests talk to, on loopback ports, and prints the variables the tests read.
#   scripts/services.sh start    install what is missing (Debian packages), start, wait until ready
#   scripts/services.sh stop     stop what this script started
#   scripts/services.sh env      print the exports again
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
    echo "export USINE_OPCUA_SERVER_DIR=$OPCUA_SERVER_DIR"
    # Playwright drives the Debian chromium above; it must never fetch a browser of its own.
    echo "export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1"
}

case "${1:-}" in
    start)
        start_mosquitto
        install_chromium
        install_opcua_server
        print_env
        ;;
    stop)
        stop_mosquitto
        ;;
    env)
        print_env
        ;;
    *)
        echo "usage: $0 start|stop|env" >&2
        exit 2
        ;;
esac
