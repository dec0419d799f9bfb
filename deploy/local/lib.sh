# Shared by deploy/local/up, down and status. Sourced, not run.
# shellcheck shell=bash disable=SC2034  # the variables are used by the sourcing scripts

LOCAL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$LOCAL_DIR/../.." && pwd)

STATE_DIR=${LINKGRAPH_SERVICES_DIR:-$REPO_DIR/.run/services}
REDIS_PORT=${REDIS_PORT:-6379}
# yes: Redis keeps an append-only file in $REDIS_DIR and reloads it on start.
REDIS_APPENDONLY=${REDIS_APPENDONLY:-no}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
# Seconds `up` waits for each service to answer.
WAIT_SECONDS=${LINKGRAPH_SERVICES_TIMEOUT:-90}
# Seconds `down` waits after SIGTERM before SIGKILL (default: redis 10, kafka 45).
STOP_SECONDS=${LINKGRAPH_SERVICES_STOP_TIMEOUT:-}
# Heap of the broker (a test broker needs little).
KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}

REDIS_DIR=$STATE_DIR/redis
REDIS_LOG=$STATE_DIR/redis.log
REDIS_PIDFILE=$STATE_DIR/redis.pid

KAFKA_LIBS=$STATE_DIR/kafka-libs
KAFKA_DATA=$STATE_DIR/kafka-data
KAFKA_CONFIG=$STATE_DIR/kafka-server.properties
KAFKA_LOG=$STATE_DIR/kafka.log
KAFKA_FORMAT_LOG=$STATE_DIR/kafka-format.log
KAFKA_PIDFILE=$STATE_DIR/kafka.pid
KAFKA_POM=$LOCAL_DIR/kafka/pom.xml

# The interpreter for check.py (standard library only): the project's venv if there is one.
if [[ -n ${LINKGRAPH_PYTHON:-} ]]; then
    PYTHON=$LINKGRAPH_PYTHON
elif [[ -x $REPO_DIR/.venv/bin/python ]]; then
    PYTHON=$REPO_DIR/.venv/bin/python
else
    PYTHON=python3
fi

SERVICES=(redis kafka)

# Progress goes to stderr, so that stdout carries only the `export` lines:
#   eval "$(deploy/local/up)"
say() { printf '%s\n' "$*" >&2; }
err() { printf '%s\n' "$*" >&2; }
die() { err "$*"; exit 1; }

# parse_args ARGS...: sets SERVICES from `--only redis|kafka`; leaves other args in REST.
parse_args() {
    REST=()
    while (($#)); do
        case $1 in
            --only)
                (($# >= 2)) || die "--only needs redis or kafka"
                case $2 in
                    redis | kafka) SERVICES=("$2") ;;
                    *) die "--only: unknown service '$2' (redis or kafka)" ;;
                esac
                shift 2
                ;;
            --only=*)
                set -- --only "${1#--only=}" "${@:2}"
                ;;
            *)
                REST+=("$1")
                shift
                ;;
        esac
    done
}

# take_lock: one up/down at a time per state directory. The services must not inherit
# fd 9 (start them with 9>&-), or they would hold the lock for as long as they run.
take_lock() {
    mkdir -p "$STATE_DIR"
    exec 9>"$STATE_DIR/.lock"
    if ! flock -w 300 9; then
        die "another deploy/local command holds $STATE_DIR/.lock"
    fi
}

pidfile_of() {
    case $1 in
        redis) printf '%s\n' "$REDIS_PIDFILE" ;;
        kafka) printf '%s\n' "$KAFKA_PIDFILE" ;;
    esac
}

# is_service PID SERVICE: PID is alive and is that service. A recycled pid does not
# count, nor does a zombie (its cmdline is empty).
is_service() {
    local pattern
    case $2 in
        redis) pattern=redis-server ;;
        kafka) pattern=kafka.Kafka ;;
    esac
    kill -0 "$1" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$pattern"
}

# pid_of SERVICE: the pid in its pidfile if that process is alive and is that service.
pid_of() {
    local pidfile pid
    pidfile=$(pidfile_of "$1")
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    is_service "$pid" "$1" || return 1
    printf '%s\n' "$pid"
}

port_of() {
    case $1 in
        redis) printf '%s\n' "$REDIS_PORT" ;;
        kafka) printf '%s\n' "$KAFKA_PORT" ;;
    esac
}

log_of() {
    case $1 in
        redis) printf '%s\n' "$REDIS_LOG" ;;
        kafka) printf '%s\n' "$KAFKA_LOG" ;;
    esac
}

# probe SERVICE [TIMEOUT]: exit 0 if the service answers now (one attempt).
probe() {
    "$PYTHON" "$LOCAL_DIR/check.py" "$1" 127.0.0.1 "$(port_of "$1")" --once --timeout "${2:-3}"
}

# port_busy PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_busy() {
    "$PYTHON" "$LOCAL_DIR/check.py" tcp 127.0.0.1 "$1" --once --timeout 1 2>/dev/null
}

# log_tail SERVICE: the last lines of its log, indented, to stderr.
log_tail() {
    local log
    log=$(log_of "$1")
    if [[ -s $log ]]; then
        err "--- last lines of $log ---"
        tail -n 25 "$log" | sed 's/^/  /' >&2
    fi
}
