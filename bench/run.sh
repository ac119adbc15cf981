#!/usr/bin/env bash
# The Flovyn server benchmarks. See BENCHMARKS.md for what they measure and the results.
#
#   bench/run.sh [load|auth|startup|process|python|events|all] [options]   (bench/run.sh --help)
#
# Everything is built in release mode into $BENCH_TARGET_DIR (default <repo>/target/bench),
# a target directory of its own: bench/ is a separate cargo workspace, so the root workspace
# and CI never build it, and its feature set (flovyn-server without example plugins) never
# invalidates the root target's artifacts.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BENCH_DIR/.." && pwd)"
TARGET_DIR="${BENCH_TARGET_DIR:-$REPO/target/bench}"
BIN="$TARGET_DIR/release"

WHICH=all
DURATION=10
ROUNDS=5
CONNECTIONS=32
PACED_CONNECTIONS=16
PACE_MS=1
WARMUP=3
STARTUP_RUNS=20
WRITE=0
CALLGRIND=auto
PRIORITY=auto
SERVER_CPU=0
WRK_CPU=1
# The load benchmark's target (docs/decisions/0008-one-layer-per-request.md): on each route,
# the server's stack may add at most this many user-space instructions per request to what
# bare axum needs for the same work (callgrind: exact, whatever the machine is doing).
INSTR_BUDGET=8000
EVENTS_DB=both
EVENTS_RATE=20
EVENTS_SECS=30
CATCHUP_SECS=300
PLUGIN_PORT="${BENCH_PLUGIN_PORT:-18181}"
BASELINE_PORT="${BENCH_BASELINE_PORT:-18182}"
COMMAND_LINE="bench/run.sh $*"

usage() {
    cat <<'EOF'
Usage: bench/run.sh [load|auth|startup|process|python|events|all] [options]

Benchmarks (default: all):
  load      wrk on loopback, two routes (GET /api/v1/p/hello/greeting?name=Ada and
            GET /api/v1/p/bench-db/items/7, one SQLite row) through the whole flovyn-server
            stack vs a bare axum app doing the same work; alternating rounds; reports the
            throughput ratio (saturated) and the p99 latency ratio (paced, and saturated),
            plugin / baseline; then user-space instructions per request (valgrind), which
            do not depend on what else the machine is doing, judged against the budget
            (at most 8000 per request over bare axum)
  auth      wrk on loopback against one server (flovyn-auth: the worker-token plugin and
            the bench-auth probe plugin): GET /api/v1/p/bench-auth/open?name=Ada (public,
            no credentials) vs GET /api/v1/p/bench-auth/guarded?name=Ada (any authenticated
            caller) with a worker token created through the admin API; the same handler
            behind both; saturated, alternating rounds; reports the throughput ratio
            guarded / open, then instructions per request (valgrind)
  startup   warm start-up (process start -> GET /_/health 200, migrations already
            applied) with 100 vs 200 generated plugins (5 routes, 3 migrations each), and
            the hello plugin alone for reference
  process   the hello plugin linked into the server vs out of process (the same server
            binary, flovyn.toml: [plugins.hello] mode = "process", command = the release
            hello-plugin), GET /api/v1/p/hello/greeting?name=Ada, alternating rounds as in
            load, each round with a third run per side: one connection, paced (one request
            at a time); reports the throughput ratio process / linked (saturated), the
            latency added at p50 and p99 one request at a time and with the paced
            connections (target, both ways: at most 100 µs added at p50), the CPU per
            request of the server and of the plugin process, then instructions per request
            (valgrind: the server process, and the plugin process apart); then warm
            start-up, linked vs process: hello (1 plugin process) and 100 generated plugins
            of which 10 run as processes
  python    the same greeting (GET /api/v1/p/hello/greeting?name=Ada) served three ways by
            the same server binary, in one run: hello linked, hello out of process (the
            release hello-plugin, as in process) and a hello plugin written in Python
            (bench/python-hello/hello_plugin.py, the Python SDK; flovyn.toml: command = the
            Python environment's bin/python, args = the script); saturated and paced rounds
            as in process, the order of the three reversed every other round; reports the
            throughput ratios Python / linked and Python / Rust process (saturated), the
            latency Python adds at p50 and p99 over each (paced), the CPU per request of
            each server and plugin process and their resident memory (no instruction counts:
            callgrind would count CPython's interpreter). Runs scripts/python-env first when
            its environment is missing or its SDK is not this checkout's
  events    (1) worker-token creation, POST /api/v1/p/worker-token/tokens as the admin,
            saturated, against the release flovyn-server of this checkout (default
            features: hello, worker-token, audit-log; token-created goes through the
            outbox) vs the release flovyn-server of commit edcc592 (the in-memory bus:
            queues of 1,024 per subscriber, dropped when full), each on a fresh database,
            alternating rounds as in auth; reports the throughput ratio outbox / in-memory,
            and after each run waits for delivery to catch up (--catchup-secs) and counts
            tokens vs audit-log rows (events lost); on SQLite and on PostgreSQL
            (--events-db). edcc592 is built from a git worktree under the target directory
            (kept built: target/bench/edcc592). (2) publish -> handled latency with two
            replicas on one PostgreSQL: flovyn-events (the bench-events probe plugin)
            started as replica B, which takes the delivery lease, then replica A; events
            published through A at a paced rate (--events-rate, --events-secs), handled on
            B; p50/p90/p99/max from the probe's per-event rows, checked against B's
            flovyn_event_delivery_latency_seconds histogram
  all       all six

Options:
  -d, --duration SECS     wrk duration of each measured load / auth run (default 10)
  -r, --rounds N          load, auth, process and python rounds (default 5); a load round
                          is 4 runs: saturated baseline and plugin, then paced baseline and
                          plugin (process: linked and process; python: 6 runs, linked, Rust
                          process and Python); an auth round is 2 runs: open and guarded,
                          saturated
  -c, --connections N     wrk connections of the saturated phase (default 32; wrk uses 1 thread)
      --paced-connections N   wrk connections of the paced phase (default 16)
      --pace-ms N         paced phase: ms between a response and the connection's next
                          request (default 1; offered load ~ connections / (N ms + latency))
      --warmup SECS       uncounted wrk warm-up per server (auth: per route) before the
                          rounds (default 3)
  -n, --startup-runs N    counted warm starts per binary (default 20; startup, process)
      --server-cpu N      CPU the servers are pinned to (default 0)
      --wrk-cpu N         CPU wrk is pinned to (default 1)
  -p, --priority P        rt | nice | none: scheduling of the servers, wrk and the start-up
                          timer. rt (default as root) = SCHED_FIFO (chrt -f 10): other
                          processes on the machine no longer delay them; nice = nice -20
                          (not enough under load: see BENCHMARKS.md); none (default
                          otherwise) = unchanged
      --no-callgrind      skip the instruction count (valgrind) part of the load, auth and
                          process benchmarks
      --events-db D       sqlite | postgres | both: databases of the events throughput
                          part (default both; the latency part always uses PostgreSQL)
      --events-rate N     events per second offered in the latency part (default 20)
      --events-secs N     duration of the latency part's paced run (default 30)
      --catchup-secs N    events: longest wait for delivery to catch up after a run
                          (default 300)
  -w, --write             also write the results into BENCHMARKS.md (between the
                          <!-- bench:...:begin/end --> markers)
  -h, --help              this help

Environment: BENCH_TARGET_DIR (default <repo>/target/bench), BENCH_PLUGIN_PORT (18181;
also flovyn-auth's and the events benchmark's outbox server and replica A),
BENCH_BASELINE_PORT (18182; also the in-memory server and replica B; the python
benchmark's Python server listens on the next port, 18183), BENCH_PG_PORT (18190: the events
benchmark's throw-away PostgreSQL), PG_BIN (where initdb and pg_ctl are), FLOVYN_PYTHON_ENV
(default <repo>/target/python: the python benchmark's environment, as for scripts/python-env).

Needs: cargo, wrk (load, auth, process, python, events), taskset, curl, pgrep (process,
python), python3 3.11+ with venv (python, for scripts/python-env), git, sqlite3, psql and
the PostgreSQL server binaries (events: run as user nobody when root).
wrk, sqlite3 and psql are installed with apt-get when missing and running as root;
otherwise the command to install them is printed.
Time: building takes ~10 min from scratch (the 200 generated plugins: ~3.5 min of one
core per 100), seconds when up to date; load ~ 4 x rounds x duration + 2 x warmup + ~40 s
of valgrind (~3.5 min by default); auth ~ 2 x rounds x duration + 2 x warmup + ~40 s of
valgrind (~2.5 min); startup ~ 10 s; process ~ 6 x rounds x duration + 2 x warmup + ~1 min
of valgrind + ~1 min of start-ups (~7.5 min; building the two plugin executables: ~5 min
the first time); python ~ 6 x rounds x duration + 3 x warmup (~5.5 min; the first time
also building flovyn-hello and hello-plugin, ~4 min, and scripts/python-env); events ~ 2 x
databases x rounds x (duration + catch-up) + events-secs (~10 min; building both
flovyn-server binaries: ~25 min the first time).
EOF
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        load | auth | startup | process | python | events | all) WHICH="$1" ;;
        -d | --duration) DURATION="$2"; shift ;;
        -r | --rounds) ROUNDS="$2"; shift ;;
        -c | --connections) CONNECTIONS="$2"; shift ;;
        --paced-connections) PACED_CONNECTIONS="$2"; shift ;;
        --pace-ms) PACE_MS="$2"; shift ;;
        --warmup) WARMUP="$2"; shift ;;
        -n | --startup-runs) STARTUP_RUNS="$2"; shift ;;
        --server-cpu) SERVER_CPU="$2"; shift ;;
        --wrk-cpu) WRK_CPU="$2"; shift ;;
        -p | --priority) PRIORITY="$2"; shift ;;
        --no-callgrind) CALLGRIND=0 ;;
        --events-db) EVENTS_DB="$2"; shift ;;
        --events-rate) EVENTS_RATE="$2"; shift ;;
        --events-secs) EVENTS_SECS="$2"; shift ;;
        --catchup-secs) CATCHUP_SECS="$2"; shift ;;
        -w | --write) WRITE=1 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
for n in "$DURATION" "$ROUNDS" "$CONNECTIONS" "$PACED_CONNECTIONS" "$PACE_MS" "$WARMUP" "$STARTUP_RUNS" "$SERVER_CPU" "$WRK_CPU" \
    "$EVENTS_RATE" "$EVENTS_SECS" "$CATCHUP_SECS"; do
    [[ "$n" =~ ^[0-9]+$ ]] || { echo "not a number: $n" >&2; exit 2; }
done
[[ "$ROUNDS" -ge 1 && "$DURATION" -ge 1 && "$STARTUP_RUNS" -ge 1 && "$EVENTS_RATE" -ge 1 && "$EVENTS_SECS" -ge 1 ]] || {
    echo "rounds, duration, startup runs, events rate and events secs must be at least 1" >&2
    exit 2
}
case "$EVENTS_DB" in
    sqlite | postgres | both) ;;
    *) echo "unknown --events-db: $EVENTS_DB (sqlite, postgres or both)" >&2; exit 2 ;;
esac

# Priority of what is measured. With SCHED_FIFO (root only) the servers and wrk run as soon
# as they are runnable, whatever else the machine is doing; nice -20 alone still lets a busy
# nice-0 process delay them by milliseconds (EEVDF lets the running task finish its slice).
if [[ "$PRIORITY" == auto ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v chrt >/dev/null 2>&1; then PRIORITY=rt; else PRIORITY=none; fi
fi
case "$PRIORITY" in
    rt) PRIO=(chrt -f 10) ;;
    nice) PRIO=(nice -n -20) ;;
    none) PRIO=() ;;
    *) echo "unknown priority: $PRIORITY (rt, nice or none)" >&2; exit 2 ;;
esac

log() { echo "==> $*" >&2; }

need_tool() { # need_tool COMMAND DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing $2 (apt-get)"
        apt-get install -y "$2" >/dev/null 2>&1 ||
            { apt-get update >/dev/null && apt-get install -y "$2" >/dev/null; }
    fi
    command -v "$1" >/dev/null 2>&1 || {
        echo "error: \`$1\` is missing; install it with: sudo apt-get install -y $2" >&2
        exit 1
    }
}

build() { # build PACKAGE...
    local args=()
    for p in "$@"; do args+=(-p "$p"); done
    log "cargo build --release ${args[*]} (target dir $TARGET_DIR)"
    (cd "$BENCH_DIR" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release --quiet "${args[@]}")
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit } if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s %s", lo, hi }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
field() { # field KEY LINE: value of KEY=value in LINE
    tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Both CPUs' counters from /proc/stat: "total steal" (steal: time the hypervisor ran something
# else instead of this machine's CPUs, which no priority can prevent).
machine_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $9 }' /proc/stat; }

# Under SCHED_FIFO a thread runs until it blocks, so the tokio worker, busy at saturation,
# starves sqlx's SQLite threads (one per pooled connection) that share its CPU: a query
# waits until every connection is waiting on one. The ordinary scheduler would run such a
# mostly sleeping thread almost at once; one priority step above the worker does the same
# here. Applied to every server with a database, baseline included, before each measured
# run (the pool opens connections, and threads, as the load needs them).
boost_db_threads() { # boost_db_threads PID...
    [[ "$PRIORITY" == rt ]] || return 0
    local pid task
    for pid in "$@"; do
        for task in /proc/"$pid"/task/*; do
            if [[ "$(cat "$task/comm" 2>/dev/null)" == sqlx-sqlite* ]]; then
                chrt -f -p 11 "${task##*/}" >/dev/null
            fi
        done
    done
}

STAMP="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
LOADAVG_START="$(cut -d' ' -f1-3 /proc/loadavg)"
RESULTS_DIR="$TARGET_DIR/results"
mkdir -p "$RESULTS_DIR"
RUN_DIR="$(mktemp -d "$TARGET_DIR/run.XXXXXX")"
PIDS=()
# The events benchmark's throw-away PostgreSQL (its directory and port, while it runs) and
# the git worktree it builds the old server from (while it exists).
PG_DIR="" PG_PORT="" PG_BINDIR="" WORKTREE=""
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n "$PG_DIR" ]]; then stop_postgres; fi
    if [[ -n "$WORKTREE" ]]; then remove_worktree; fi
    if [[ "$rc" == 0 ]]; then
        rm -rf "$RUN_DIR"
    else
        echo "servers' logs and wrk output kept in $RUN_DIR" >&2
    fi
}
trap cleanup EXIT

# The commit measured, read before building (changes to bench/ and this file's results do not
# count: they do not change what is measured).
COMMIT="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git -C "$REPO" status --porcelain --untracked-files=no -- . ':!bench' ':!BENCHMARKS.md' 2>/dev/null)" ]]; then
    COMMIT="$COMMIT + uncommitted changes outside bench/"
fi

machine_md() {
    local cpu mem
    cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || echo unknown)"
    mem="$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo 2>/dev/null || echo unknown)"
    echo "- date: $STAMP"
    echo "- machine: $(nproc) cores ($cpu), $mem, $(uname -sr)"
    echo "- rustc: $(rustc --version)"
    echo "- commit: $COMMIT (as built at the start of the run)"
    echo "- command: \`$COMMAND_LINE\`"
    echo "- priority: $PRIORITY ($([[ ${#PRIO[@]} -gt 0 ]] && echo "\`${PRIO[*]}\` for the servers, wrk and the start-up timer" || echo 'unchanged'))"
    echo "- load average (1, 5, 15 min) before the run: $LOADAVG_START"
}

wait_http() { # wait_http URL PID [TIMEOUT_SECS] [HEADER]: until one GET of URL (with HEADER) succeeds
    local _ hdr=()
    if [[ -n "${4:-}" ]]; then hdr=(-H "$4"); fi
    for _ in $(seq 1 $((${3:-10} * 20))); do
        curl -fsS -o /dev/null "${hdr[@]}" "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || { echo "error: server (pid $2) exited; see $RUN_DIR" >&2; exit 1; }
        sleep 0.05
    done
    echo "error: $1 did not answer within ${3:-10} s" >&2
    exit 1
}

port_free() { # port_free PORT: fails, naming the port, when something already listens on it
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        echo "error: something already listens on 127.0.0.1:$1 (set BENCH_PLUGIN_PORT / BENCH_BASELINE_PORT)" >&2
        exit 1
    fi
}

# The admin token of flovyn-auth and of the events benchmark's servers (64 hex digits: the
# server wants at least 32 bytes).
ADMIN_TOKEN="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"

# The flovyn.toml of the process benchmark's server: the hello plugin out of process, run
# from the release hello-plugin; everything else at its defaults.
hello_process_toml() {
    printf '# bench/run.sh process: the hello plugin out of process\n[plugins.hello]\nmode = "process"\ncommand = "%s"\n' "$BIN/hello-plugin"
}

# The python benchmark's Python environment (scripts/python-env makes it; the same variable
# moves it there) and the flovyn.toml of its Python server: the hello plugin written in
# Python (bench/python-hello), run by that environment's interpreter; everything else at its
# defaults.
PYTHON_ENV="${FLOVYN_PYTHON_ENV:-$REPO/target/python}"
PYTHON_HELLO="$BENCH_DIR/python-hello/hello_plugin.py"
hello_python_toml() {
    printf '# bench/run.sh python: the hello plugin written in Python\n[plugins.hello]\nmode = "process"\ncommand = "%s"\nargs = ["%s"]\n' \
        "$PYTHON_ENV/bin/python" "$PYTHON_HELLO"
}

# The events benchmark's sides: events-new (this checkout's flovyn-server, EVENTS_NEW_BIN),
# events-old (edcc592's, EVENTS_OLD_BIN), both with ADMIN_TOKEN, and events-probe
# (flovyn-events, a replica of the latency part). SERVER_DB_URL, when set, replaces the
# SQLite file in DIR as DATABASE_URL.
SERVER_DB_URL=""
EVENTS_NEW_BIN="$BIN/flovyn-server"
EVENTS_OLD_BIN=""

# Starts the plugin server (flovyn-hello), the same server with hello out of process
# (process: flovyn-hello with hello_process_toml as ./flovyn.toml; python: with
# hello_python_toml), the auth server
# (flovyn-auth, with ADMIN_TOKEN as its admin token), one of the events benchmark's servers
# (above) or the baseline in DIR on PORT, with PREFIX (e.g. the priority, or valgrind) before
# the binary; its pid is in STARTED_PID.
start_server() { # start_server plugin|process|python|auth|baseline|events-new|events-old|events-probe DIR PORT PREFIX...
    local side="$1" dir="$2" port="$3"
    shift 3
    port_free "$port"
    mkdir -p "$dir"
    if [[ "$side" == process ]]; then hello_process_toml >"$dir/flovyn.toml"; fi
    if [[ "$side" == python ]]; then hello_python_toml >"$dir/flovyn.toml"; fi
    if [[ "$side" != baseline ]]; then
        # flovyn-server's `serve` with its defaults (SQLite, log level info), in an empty
        # directory so that no flovyn.toml is picked up (process, python: only the one
        # written above), and no inherited FLOVYN_* variable.
        local unset=() bin="$BIN/flovyn-hello" extra=() v
        for v in $(env | awk -F= '/^FLOVYN_/ { print $1 }'); do unset+=(-u "$v"); done
        case "$side" in
            auth) bin="$BIN/flovyn-auth" extra=(FLOVYN_ADMIN_TOKEN="$ADMIN_TOKEN") ;;
            events-new) bin="$EVENTS_NEW_BIN" extra=(FLOVYN_ADMIN_TOKEN="$ADMIN_TOKEN") ;;
            events-old) bin="$EVENTS_OLD_BIN" extra=(FLOVYN_ADMIN_TOKEN="$ADMIN_TOKEN") ;;
            events-probe) bin="$BIN/flovyn-events" ;;
        esac
        (cd "$dir" && exec env "${unset[@]}" \
            DATABASE_URL="${SERVER_DB_URL:-sqlite://$dir/flovyn.db}" FLOVYN_LISTEN="127.0.0.1:$port" \
            TOKIO_WORKER_THREADS=1 "${extra[@]}" "$@" "$bin" >"$dir/server.log" 2>&1) &
    else
        (cd "$dir" && exec env TOKIO_WORKER_THREADS=1 "$@" "$BIN/axum-baseline" "127.0.0.1:$port" \
            "sqlite://$dir/baseline.db" >"$dir/server.log" 2>&1) &
    fi
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

# User-space instructions per request (valgrind's callgrind): the same for the same binary
# and requests whatever else the machine is doing. N-1 requests of PATH (with HEADER) on one
# keep-alive connection (curl), minus a run with none; each run also answers the one request
# that finds it ready. The auth server starts on a copy of the database of the measured
# runs ($RUN_DIR/auth), so the worker token created there is valid. With hello out of
# process (process), callgrind follows the server's children too (--trace-children=yes, one
# output file per process): INSTRUCTIONS is the server process's alone, and
# PLUGIN_INSTRUCTIONS that of its plugin process (empty for the other sides).
PLUGIN_INSTRUCTIONS=""
instructions_per_request() { # instructions_per_request plugin|process|auth|baseline LABEL PATH [HEADER]: sets INSTRUCTIONS
    local side="$1" label="$2" header="${4:-}" n=2001 port=$((PLUGIN_PORT + 10)) total=() children=() k dir pid f c
    local url="http://127.0.0.1:$port$3"
    local cfg="$RUN_DIR/curl-requests-$label.cfg"
    [[ -f "$cfg" ]] || {
        if [[ -n "$header" ]]; then printf 'header = "%s"\n' "$header"; fi
        for k in $(seq 2 "$n"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url"; done
    } >"$cfg"
    for k in 1 "$n"; do
        dir="$RUN_DIR/callgrind-$label-$k"
        if [[ "$side" == auth ]]; then
            mkdir -p "$dir"
            for f in flovyn.db flovyn.db-wal; do
                if [[ -f "$RUN_DIR/auth/$f" ]]; then cp "$RUN_DIR/auth/$f" "$dir/"; fi
            done
        fi
        if [[ "$side" == process ]]; then
            # valgrind runs the server in its own process: the server's pid is STARTED_PID.
            start_server "$side" "$dir" "$port" valgrind --tool=callgrind --trace-children=yes \
                --callgrind-out-file="$dir/callgrind.%p.out"
        else
            start_server "$side" "$dir" "$port" valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out"
        fi
        pid="$STARTED_PID"
        wait_http "$url" "$pid" 120 "$header"
        if [[ "$k" -gt 1 ]]; then curl -fsS -K "$cfg"; fi
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null || true
        if [[ "$side" == process ]]; then
            # The server waits for its plugin process to exit (it closes its stdin), so both
            # files are complete here.
            total+=("$(awk '/^(summary|totals):/ { print $2; exit }' "$dir/callgrind.$pid.out")")
            c=0
            for f in "$dir"/callgrind.*.out; do
                [[ "$f" == "$dir/callgrind.$pid.out" ]] && continue
                c=$((c + $(awk '/^(summary|totals):/ { print $2; exit }' "$f")))
            done
            if [[ "$c" == 0 ]]; then
                echo "error: no callgrind output of the plugin process in $dir" >&2
                exit 1
            fi
            children+=("$c")
        else
            total+=("$(awk '/^(summary|totals):/ { print $2; exit }' "$dir/callgrind.out")")
        fi
    done
    INSTRUCTIONS="$(awk -v a="${total[0]}" -v b="${total[1]}" -v n="$n" 'BEGIN { printf "%.0f", (b - a) / (n - 1) }')"
    PLUGIN_INSTRUCTIONS=""
    if [[ ${#children[@]} -eq 2 ]]; then
        PLUGIN_INSTRUCTIONS="$(awk -v a="${children[0]}" -v b="${children[1]}" -v n="$n" 'BEGIN { printf "%.0f", (b - a) / (n - 1) }')"
    fi
}

# Instructions per request of two sides, the denominator first: sets DEN_INSTR, NUM_INSTR,
# INSTR_RATIO and INSTR_ROW (a results-table row), all empty when skipped (--no-callgrind, or
# valgrind missing).
DEN_INSTR="" NUM_INSTR="" INSTR_RATIO="" INSTR_ROW=""
instruction_pair() { # instruction_pair WHAT DEN_SIDE DEN_LABEL DEN_PATH NUM_SIDE NUM_LABEL NUM_PATH [NUM_HEADER]
    DEN_INSTR="" NUM_INSTR="" INSTR_RATIO="" INSTR_ROW=""
    if [[ "$CALLGRIND" == 0 ]]; then return; fi
    if ! command -v valgrind >/dev/null 2>&1; then
        echo "note: valgrind is missing, instruction counts skipped (apt-get install -y valgrind)" >&2
        return
    fi
    log "instruction counts under callgrind (2000 requests on one keep-alive connection, $1)"
    instructions_per_request "$2" "$3" "$4"
    DEN_INSTR="$INSTRUCTIONS"
    instructions_per_request "$5" "$6" "$7" "${8:-}"
    NUM_INSTR="$INSTRUCTIONS"
    INSTR_RATIO="$(ratio "$NUM_INSTR" "$DEN_INSTR")"
    INSTR_ROW="| user-space instructions per request (callgrind; exact, load-independent) | $DEN_INSTR | $NUM_INSTR | $INSTR_RATIO (+$((NUM_INSTR - DEN_INSTR))) |"
    log "instructions per request: $3 $DEN_INSTR, $6 $NUM_INSTR (x$INSTR_RATIO)"
}

# wrk with the benchmarks' settings: one thread pinned to the wrk CPU, at the priority, with
# report.lua (which prints the WRK line); PACE ms between a response and the connection's
# next request (0: closed loop); HEADER, when given, sent with every request.
run_wrk() { # run_wrk CONNECTIONS SECS PACE URL [HEADER]
    local args=(-t1 --timeout 5s -s "$BENCH_DIR/load/report.lua" -c"$1" -d"$2s")
    if [[ -n "${5:-}" ]]; then args+=(-H "$5"); fi
    BENCH_PACE_MS="$3" "${PRIO[@]}" taskset -c "$WRK_CPU" wrk "${args[@]}" "$4"
}

# One measured wrk run of DURATION seconds against the server PID: appends one line to TSV
# and prints it. Fails on any wrk error (connect, read, write, timeout, or a status other
# than 2xx/3xx). The columns:
# round phase side rps p50 p90 p99 server_cpu_us/req server_cpu% wrk_cpu% load_avg steal% requests
#   plugin_cpu_us/req plugin_cpu%
# the last two: the CPU time of the process MEASURE_PLUGIN_PID (a plugin process of the
# server), when set, else "-".
MEASURE_PLUGIN_PID=""
measure_run() { # measure_run TSV ROUND PHASE SIDE PID CONNECTIONS PACE URL [HEADER]
    local tsv="$1" r="$2" phase="$3" side="$4" pid="$5" conns="$6" pace="$7" url="$8" header="${9:-}"
    boost_db_threads "$pid"
    local hz t0 t1 m0 m1 steal line e reqs secs cpu_us util wrk_util a0="" a1="" aux_us=- aux_util=-
    hz="$(getconf CLK_TCK)"
    t0="$(cpu_ticks "$pid")"
    if [[ -n "$MEASURE_PLUGIN_PID" ]]; then a0="$(cpu_ticks "$MEASURE_PLUGIN_PID")"; fi
    m0="$(machine_ticks)"
    # `time` gives wrk's own CPU time: is the load generator the bottleneck?
    { TIMEFORMAT='%U %S'; time run_wrk "$conns" "$DURATION" "$pace" "$url" "$header" >"$RUN_DIR/wrk.out"; } 2>"$RUN_DIR/wrk.time"
    t1="$(cpu_ticks "$pid")"
    if [[ -n "$MEASURE_PLUGIN_PID" ]]; then a1="$(cpu_ticks "$MEASURE_PLUGIN_PID")"; fi
    m1="$(machine_ticks)"
    steal="$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.1f", 100 * (y[2] - x[2]) / (y[1] - x[1]) }')"
    line="$(grep '^WRK ' "$RUN_DIR/wrk.out")" || { echo "error: no result from wrk: $(cat "$RUN_DIR/wrk.out")" >&2; exit 1; }
    for e in errors_connect errors_read errors_write errors_status errors_timeout; do
        if [[ "$(field "$e" "$line")" != 0 ]]; then
            echo "error: wrk reports $e on $side ($phase): $line" >&2
            exit 1
        fi
    done
    reqs="$(field requests "$line")"
    secs="$(awk -v us="$(field duration_us "$line")" 'BEGIN { print us / 1e6 }')"
    # Server CPU time (user + system, all threads) per request, and CPU use of the server
    # and of wrk over the run (100% = one core).
    cpu_us="$(awk -v d="$((t1 - t0))" -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }')"
    util="$(awk -v d="$((t1 - t0))" -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.0f", 100 * d / hz / s }')"
    wrk_util="$(tail -n1 "$RUN_DIR/wrk.time" | awk -v s="$secs" '{ printf "%.0f", 100 * ($1 + $2) / s }')"
    if [[ -n "$a1" ]]; then
        aux_us="$(awk -v d="$((a1 - a0))" -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }')"
        aux_util="$(awk -v d="$((a1 - a0))" -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.0f", 100 * d / hz / s }')"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$phase" "$side" "$(field rps "$line")" \
        "$(field p50_us "$line")" "$(field p90_us "$line")" "$(field p99_us "$line")" \
        "$cpu_us" "$util" "$wrk_util" "$(cut -d' ' -f1 /proc/loadavg)" "$steal" "$reqs" "$aux_us" "$aux_util" >>"$tsv"
    printf '  round %d %-9s %-8s %8.0f req/s  p50 %5d  p90 %5d  p99 %6d us  server %5.2f us CPU/req, CPU %3s%%  wrk CPU %3s%%  load %s  steal %s%%%s\n' \
        "$r" "$phase" "$side" "$(field rps "$line")" "$(field p50_us "$line")" "$(field p90_us "$line")" \
        "$(field p99_us "$line")" "$cpu_us" "$util" "$wrk_util" "$(cut -d' ' -f1 /proc/loadavg)" "$steal" \
        "$([[ -n "$a1" ]] && echo "  plugin process $aux_us us CPU/req, CPU $aux_util%")" >&2
}

# Statistics over the caller's `tsv` (lines of measure_run), comparing its sides `num` /
# `den` (the ratio's numerator and denominator): bash functions see their caller's locals.
col() { awk -F'\t' -v p="$1" -v s="$2" -v c="$3" '$2 == p && $3 == s { print $c }' "$tsv"; }
med() { col "$@" | median; }
rat() { ratio "$(med "$1" "$num" "$2")" "$(med "$1" "$den" "$2")"; }
per_round() { # per_round PHASE COLUMN: "min max" of num / den over the rounds
    awk -F'\t' -v p="$1" -v c="$2" -v n="$num" -v d="$den" '$2 == p { v[$1, $3] = $c } END { for (r = 1; (r, n) in v; r++) print v[r, n] / v[r, d] }' "$tsv" | minmax
}
span() { awk -v a="${1% *}" -v b="${1#* }" -v f="$2" 'BEGIN { printf f " … " f, a, b }'; }
ratio_row() { # ratio_row LABEL PHASE COLUMN [bold]: one table row, den | num | ratio (spread)
    local b p q
    b="$(med "$2" "$den" "$3")"
    p="$(med "$2" "$num" "$3")"
    q="$(ratio "$p" "$b")"
    if [[ -n "${4:-}" ]]; then q="**$q**"; fi
    printf '| %s | %s | %s | %s (%s) |\n' "$1" "$(printf '%.0f' "$b")" "$(printf '%.0f' "$p")" "$q" "$(span "$(per_round "$2" "$3")" %.3f)"
}
steal_max() { cut -f12 "$tsv" | sort -g | tail -n1; }

# A warning for the report when the hypervisor took a noticeable share of the CPUs.
steal_warning() { # steal_warning MAX_STEAL_PERCENT
    awk -v m="$1" 'BEGIN { if (m > 3) printf "\n**Warning**: the hypervisor took up to %s%% of this machine'"'"'s CPU time during the runs (steal, /proc/stat): other virtual machines were busy, and the timings of this run are disturbed. Rerun when it stays near 0.\n", m }'
}

# ------------------------------------------------------------------------------------------
LOAD_MD=""
run_load() {
    need_tool wrk wrk
    need_tool taskset util-linux
    need_tool curl curl
    build bench-load
    local greeting item
    load_route greeting "/api/v1/p/hello/greeting?name=Ada"
    greeting="$ROUTE_MD"
    load_route item "/api/v1/p/bench-db/items/7"
    item="$ROUTE_MD"
    LOAD_MD="$(
        cat <<EOF
$(machine_md)
- setup: both servers pinned to CPU $SERVER_CPU with \`TOKIO_WORKER_THREADS=1\`, wrk (1 thread) pinned to CPU $WRK_CPU; ${WARMUP}s warm-up each; $ROUNDS rounds per route, each: saturated baseline/plugin, then paced baseline/plugin, ABBA order; every run ${DURATION}s
- saturated: \`wrk -t1 -c$CONNECTIONS\`, closed loop (as fast as the server answers); paced: \`wrk -t1 -c$PACED_CONNECTIONS\` with ${PACE_MS} ms between a response and the connection's next request (below both servers' capacity)

#### Route 1 — \`GET /api/v1/p/hello/greeting?name=Ada\`: no work, the stack's whole cost

$greeting

#### Route 2 — \`GET /api/v1/p/bench-db/items/7\`: one row from the plugin's table

$item
EOF
    )"
}

# One route of the load benchmark: both servers started, measured, stopped, then the
# instruction counts and the verdict on INSTR_BUDGET. Sets ROUTE_MD (the route's results) and
# prints its RESULT line.
ROUTE_MD=""
load_route() { # load_route LABEL PATH
    local label="$1" path="$2"
    local plugin_url="http://127.0.0.1:$PLUGIN_PORT$path"
    local baseline_url="http://127.0.0.1:$BASELINE_PORT$path"

    # Both servers: one tokio worker, pinned to one CPU; wrk: one thread on the other CPU.
    log "route $label ($path): starting flovyn-hello on 127.0.0.1:$PLUGIN_PORT and axum-baseline on 127.0.0.1:$BASELINE_PORT (CPU $SERVER_CPU, 1 tokio worker)"
    local plugin_pid baseline_pid
    start_server plugin "$RUN_DIR/plugin-$label" "$PLUGIN_PORT" "${PRIO[@]}" taskset -c "$SERVER_CPU"
    plugin_pid="$STARTED_PID"
    start_server baseline "$RUN_DIR/baseline-$label" "$BASELINE_PORT" "${PRIO[@]}" taskset -c "$SERVER_CPU"
    baseline_pid="$STARTED_PID"
    wait_http "$plugin_url" "$plugin_pid"
    wait_http "$baseline_url" "$baseline_pid"

    local a b
    a="$(curl -fsS "$plugin_url")"
    b="$(curl -fsS "$baseline_url")"
    if [[ "$a" != "$b" ]]; then
        echo "error: the two servers answer differently: plugin $a, baseline $b" >&2
        exit 1
    fi
    log "both answer $a"

    if [[ "$WARMUP" -gt 0 ]]; then
        log "warm-up: ${WARMUP}s each"
        run_wrk "$CONNECTIONS" "$WARMUP" 0 "$baseline_url" >/dev/null
        run_wrk "$CONNECTIONS" "$WARMUP" 0 "$plugin_url" >/dev/null
    fi

    local tsv="$RUN_DIR/load-$label.tsv" num=plugin den=baseline
    : >"$tsv"
    local r phase side conns pace
    for r in $(seq 1 "$ROUNDS"); do
        # ABBA order: baseline first in odd rounds, plugin first in even ones.
        local order=(baseline plugin)
        ((r % 2 == 0)) && order=(plugin baseline)
        for phase in saturated paced; do
            if [[ "$phase" == saturated ]]; then conns="$CONNECTIONS" pace=0; else conns="$PACED_CONNECTIONS" pace="$PACE_MS"; fi
            for side in "${order[@]}"; do
                if [[ "$side" == plugin ]]; then
                    measure_run "$tsv" "$r" "$phase" plugin "$plugin_pid" "$conns" "$pace" "$plugin_url"
                else
                    measure_run "$tsv" "$r" "$phase" baseline "$baseline_pid" "$conns" "$pace" "$baseline_url"
                fi
            done
        done
    done
    kill "$plugin_pid" "$baseline_pid" 2>/dev/null || true
    wait "$plugin_pid" "$baseline_pid" 2>/dev/null || true

    # Medians per (phase, side); ratios plugin / baseline of the medians, and the spread of
    # the per-round ratios (a round's two runs of a phase are back to back).
    local tr pr sr cr
    tr="$(rat saturated 4)"
    pr="$(rat paced 7)"
    sr="$(rat saturated 7)"
    cr="$(rat saturated 8)"

    instruction_pair "each server" baseline "baseline-$label" "$path" plugin "plugin-$label" "$path"
    local b_instr="$DEN_INSTR" p_instr="$NUM_INSTR" ir="$INSTR_RATIO" instr_row="$INSTR_ROW"
    local verdict verdict_line extra=""
    if [[ -n "$p_instr" ]]; then
        extra=$((p_instr - b_instr))
        if [[ "$extra" -le "$INSTR_BUDGET" ]]; then verdict=PASS; else verdict=FAIL; fi
        verdict_line="Target: the stack adds at most $INSTR_BUDGET instructions per request to bare axum → **$verdict** (+$extra). Throughput ratio: **$tr** (tracked, no pass mark)."
    else
        verdict=unmeasured
        verdict_line="Target: the stack adds at most $INSTR_BUDGET instructions per request to bare axum → not measured (valgrind missing or \`--no-callgrind\`). Throughput ratio: **$tr** (tracked, no pass mark)."
    fi

    ROUTE_MD="$(
        cat <<EOF
| median of $ROUNDS rounds | baseline (bare axum) | plugin (flovyn-server) | plugin / baseline (per-round min … max) |
|---|---:|---:|---:|
$(ratio_row "**throughput**, saturated, req/s" saturated 4 bold)
$(ratio_row "p50 latency, saturated, µs" saturated 5)
$(ratio_row "p99 latency, saturated, µs" saturated 7)
$(ratio_row "p50 latency, paced, µs" paced 5)
$(ratio_row "p90 latency, paced, µs" paced 6)
$(ratio_row "**p99 latency**, paced, µs" paced 7 bold)
$(ratio_row "offered load, paced, req/s" paced 4)
| server CPU per request, saturated, µs | $(med saturated baseline 8) | $(med saturated plugin 8) | $cr ($(span "$(per_round saturated 8)" %.3f)) |
${instr_row}
| server / wrk CPU use, saturated | $(med saturated baseline 9)% / $(med saturated baseline 10)% | $(med saturated plugin 9)% / $(med saturated plugin 10)% | |
| CPU time stolen by the hypervisor (both CPUs), median / max of the runs | $(cut -f12 "$tsv" | median)% / $(steal_max)% | | |

$verdict_line p99 ratio (paced): **$pr**; at saturation: $sr.
$(steal_warning "$(steal_max)")

<details><summary>every run</summary>

| round | phase | server | req/s | p50 µs | p90 µs | p99 µs | server CPU µs/req | server CPU | wrk CPU | load avg | steal |
|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(awk -F'\t' '{ printf "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s%% | %s%% | %s | %s%% |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 }' "$tsv")

</details>
EOF
    )"
    echo "RESULT load route=$label throughput_ratio=$tr p99_ratio_paced=$pr p99_ratio_saturated=$sr cpu_per_request_ratio=$cr instructions_ratio=${ir:-none} baseline_rps=$(med saturated baseline 4) plugin_rps=$(med saturated plugin 4) baseline_p99_paced_us=$(med paced baseline 7) plugin_p99_paced_us=$(med paced plugin 7) baseline_instructions=${b_instr:-none} plugin_instructions=${p_instr:-none} extra_instructions=${extra:-none} target=$verdict"
}

# ------------------------------------------------------------------------------------------
AUTH_MD=""
run_auth() {
    need_tool wrk wrk
    need_tool taskset util-linux
    need_tool curl curl
    build bench-auth
    local base="http://127.0.0.1:$PLUGIN_PORT"
    local open_path="/api/v1/p/bench-auth/open?name=Ada" guarded_path="/api/v1/p/bench-auth/guarded?name=Ada"
    local open_url="$base$open_path" guarded_url="$base$guarded_path"
    local dir="$RUN_DIR/auth"

    # One server, one tokio worker, pinned to one CPU; wrk: one thread on the other CPU.
    log "starting flovyn-auth on 127.0.0.1:$PLUGIN_PORT (CPU $SERVER_CPU, 1 tokio worker)"
    local pid
    start_server auth "$dir" "$PLUGIN_PORT" "${PRIO[@]}" taskset -c "$SERVER_CPU"
    pid="$STARTED_PID"
    wait_http "$open_url" "$pid"

    # A worker token, created by the admin; the secret is in the 201 answer's `token`.
    local code token header
    code="$(curl -sS -o "$dir/created.json" -w '%{http_code}' -X POST "$base/api/v1/p/worker-token/tokens" \
        -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' -d '{"display_name":"bench"}')"
    token="$(grep -o '"token":"fwt_[0-9A-Za-z_]*"' "$dir/created.json" | cut -d'"' -f4)" || true
    if [[ "$code" != 201 || -z "$token" ]]; then
        echo "error: creating a worker token answered $code: $(cat "$dir/created.json")" >&2
        exit 1
    fi
    header="Authorization: Bearer $token"
    log "worker token created: ${token:0:15}…"

    # The guarded route refuses an anonymous caller and serves the token's holder; both
    # routes answer the same body.
    local anon a b
    anon="$(curl -sS -o /dev/null -w '%{http_code}' "$guarded_url")"
    if [[ "$anon" != 401 ]]; then
        echo "error: $guarded_path without credentials answered $anon, not 401" >&2
        exit 1
    fi
    a="$(curl -fsS "$open_url")"
    b="$(curl -fsS -H "$header" "$guarded_url")" || { echo "error: $guarded_path with the worker token failed" >&2; exit 1; }
    if [[ "$a" != "$b" ]]; then
        echo "error: the two routes answer differently: open $a, guarded $b" >&2
        exit 1
    fi
    log "guarded: 401 without the token; both answer $a"

    if [[ "$WARMUP" -gt 0 ]]; then
        log "warm-up: ${WARMUP}s each"
        run_wrk "$CONNECTIONS" "$WARMUP" 0 "$open_url" >/dev/null
        run_wrk "$CONNECTIONS" "$WARMUP" 0 "$guarded_url" "$header" >/dev/null
    fi

    local tsv="$RUN_DIR/auth.tsv" num=guarded den=open
    : >"$tsv"
    local r side
    for r in $(seq 1 "$ROUNDS"); do
        # ABBA order: open first in odd rounds, guarded first in even ones.
        local order=(open guarded)
        ((r % 2 == 0)) && order=(guarded open)
        for side in "${order[@]}"; do
            if [[ "$side" == open ]]; then
                measure_run "$tsv" "$r" saturated open "$pid" "$CONNECTIONS" 0 "$open_url"
            else
                measure_run "$tsv" "$r" saturated guarded "$pid" "$CONNECTIONS" 0 "$guarded_url" "$header"
            fi
        done
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Printed by flovyn-auth when it stops: the authenticator's database lookups (cache misses).
    local lookups guarded_reqs
    lookups="$(sed -n 's/^BENCH worker_token_lookups=\([0-9]*\)$/\1/p' "$dir/server.log")"
    guarded_reqs="$(col saturated guarded 13 | awk '{ n += $1 } END { print n }')"

    # Medians per side; ratios guarded / open of the medians, and the spread of the per-round
    # ratios (a round's two runs are back to back).
    local tr p50r p99r cr verdict
    tr="$(rat saturated 4)"
    p50r="$(rat saturated 5)"
    p99r="$(rat saturated 7)"
    cr="$(rat saturated 8)"
    verdict="$(awk -v t="$tr" 'BEGIN { print (t >= 0.90) ? "PASS" : "FAIL" }')"

    instruction_pair "each route" auth open "$open_path" auth guarded "$guarded_path" "$header"
    local o_instr="$DEN_INSTR" g_instr="$NUM_INSTR" ir="$INSTR_RATIO" instr_row="$INSTR_ROW"

    AUTH_MD="$(
        cat <<EOF
$(machine_md)
- setup: flovyn-auth (flovyn-server's \`serve\`, SQLite, log level info, the worker-token plugin and the bench-auth probe plugin) pinned to CPU $SERVER_CPU with \`TOKIO_WORKER_THREADS=1\`, wrk (1 thread) pinned to CPU $WRK_CPU; ${WARMUP}s warm-up each route; $ROUNDS rounds, each: open and guarded, ABBA order; every run ${DURATION}s, \`wrk -t1 -c$CONNECTIONS\`, closed loop (as fast as the server answers)
- open: \`GET $open_path\`, public, no credentials; guarded: \`GET $guarded_path\`, any authenticated caller, \`Authorization: Bearer fwt_…\` (a worker token created through the admin API before the runs); both run the same handler code

| median of $ROUNDS rounds | open (public, no credentials) | guarded (worker token) | guarded / open (per-round min … max) |
|---|---:|---:|---:|
$(ratio_row "**throughput**, saturated, req/s" saturated 4 bold)
$(ratio_row "p50 latency, saturated, µs" saturated 5)
$(ratio_row "p99 latency, saturated, µs" saturated 7)
| server CPU per request, saturated, µs | $(med saturated open 8) | $(med saturated guarded 8) | $cr ($(span "$(per_round saturated 8)" %.3f)) |
${instr_row}
| server / wrk CPU use, saturated | $(med saturated open 9)% / $(med saturated open 10)% | $(med saturated guarded 9)% / $(med saturated guarded 10)% | |
| CPU time stolen by the hypervisor (both CPUs), median / max of the runs | $(cut -f12 "$tsv" | median)% / $(steal_max)% | | |

Target: throughput ratio guarded / open ≥ 0.90 → **$verdict** ($tr). p50 ratio: $p50r; p99 ratio: $p99r (at saturation: see Scheduling under Load, and the token cache above).
Database lookups by the worker-token authenticator (cache misses) over the server's whole run: ${lookups:-unknown}, for $guarded_reqs measured guarded requests plus the warm-up.
$(steal_warning "$(steal_max)")

<details><summary>every run</summary>

| round | route | req/s | p50 µs | p90 µs | p99 µs | server CPU µs/req | server CPU | wrk CPU | load avg | steal |
|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(awk -F'\t' '{ printf "| %s | %s | %.0f | %s | %s | %s | %s | %s%% | %s%% | %s | %s%% |\n", $1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 }' "$tsv")

</details>
EOF
    )"
    echo "RESULT auth throughput_ratio=$tr p50_ratio=$p50r p99_ratio=$p99r cpu_per_request_ratio=$cr instructions_ratio=${ir:-none} open_rps=$(med saturated open 4) guarded_rps=$(med saturated guarded 4) open_p50_us=$(med saturated open 5) guarded_p50_us=$(med saturated guarded 5) open_p99_us=$(med saturated open 7) guarded_p99_us=$(med saturated guarded 7) open_cpu_us=$(med saturated open 8) guarded_cpu_us=$(med saturated guarded 8) open_instructions=${o_instr:-none} guarded_instructions=${g_instr:-none} worker_token_lookups=${lookups:-unknown} guarded_requests=$guarded_reqs steal_max=$(steal_max) target=$verdict"
}

# ------------------------------------------------------------------------------------------
STARTUP_MD=""
run_startup() {
    build bench-startup bench-load
    local out m0 m1 steal
    log "warm start-up: flovyn-100 vs flovyn-200 (and flovyn-hello), $STARTUP_RUNS counted starts each, taking turns"
    m0="$(machine_ticks)"
    out="$("${PRIO[@]}" "$BIN/startup" \
        --server "flovyn-100=$BIN/flovyn-100:100" \
        --server "flovyn-200=$BIN/flovyn-200:200" \
        --server "flovyn-hello=$BIN/flovyn-hello:2" \
        --runs "$STARTUP_RUNS" --warmup 2 --work-dir "$RUN_DIR/startup")"
    m1="$(machine_ticks)"
    steal="$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.1f", 100 * (y[2] - x[2]) / (y[1] - x[1]) }')"
    grep -v '^RESULT' <<<"$out" >&2
    grep '^RESULT' <<<"$out"
    local l100 l200 l1 m100 m200 r per
    l100="$(grep '^RESULT startup label=flovyn-100 ' <<<"$out")"
    l200="$(grep '^RESULT startup label=flovyn-200 ' <<<"$out")"
    l1="$(grep '^RESULT startup label=flovyn-hello ' <<<"$out")"
    m100="$(field median_ms "$l100")"
    m200="$(field median_ms "$l200")"
    r="$(field ratio "$(grep '^RESULT startup_ratio num=flovyn-200 ' <<<"$out")")"
    per="$(awk -v a="$m100" -v b="$m200" 'BEGIN { printf "%.2f", (b - a) / 100 }')"
    local verdict
    verdict="$(awk -v m="$m100" 'BEGIN { print (m <= 150) ? "PASS" : "FAIL" }')"
    row() { printf '| %s | %s | %s | %s | %s … %s | %s |' "$1" "$(field runs "$2")" "$(field median_ms "$2")" "$(field p90_ms "$2")" "$(field min_ms "$2")" "$(field max_ms "$2")" "$(field cold_ms "$2")"; }
    STARTUP_MD="$(
        cat <<EOF
$(machine_md)
- setup: flovyn-server's \`serve\` (SQLite file, default config, log level info to a file) linking 100 or 200 generated plugins (5 routes, 3 migrations each), or the hello plugin alone; per binary one cold start (applies the migrations; not counted) and 2 uncounted warm starts, then $STARTUP_RUNS counted warm starts each, the binaries taking turns; each start is stopped with SIGTERM before the next

| plugins | warm starts | median ms | p90 ms | min … max ms | cold start ms (not counted) |
|---|---:|---:|---:|---:|---:|
$(row 100 "$l100")
$(row 200 "$l200")
$(row "2 (hello and bench-db, for reference)" "$l1")

200 / 100 (ratio of medians): **$r**; each plugin beyond 100 adds ~$per ms.
Target: warm start with 100 plugins ≤ 150 ms → **$verdict** ($m100 ms).
CPU time stolen by the hypervisor during the start-ups: $steal%.
$(steal_warning "$steal")

<details><summary>every start, ms, in order</summary>

- 100: $(field samples_ms "$l100" | sed 's/,/, /g')
- 200: $(field samples_ms "$l200" | sed 's/,/, /g')
- hello: $(field samples_ms "$l1" | sed 's/,/, /g')

</details>
EOF
    )"
}

# ------------------------------------------------------------------------------------------
# The process benchmark: the hello plugin linked into the server vs out of process.
PROCESS_MD=""
# The target: out of process, the greeting's paced p50 latency is at most this much higher.
PROCESS_P50_BUDGET_US=100
# Generated plugins run as processes in the start-up part (of the 100 flovyn-100 links).
GEN_PROCESSES=10

# hello-plugin: the [[bin]] of the hello example, built by the bench workspace (hello is one
# of its path dependencies) with the release profile.
build_hello_plugin() {
    log "cargo build --release -p hello --bin hello-plugin (target dir $TARGET_DIR)"
    (cd "$BENCH_DIR" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release --quiet -p hello --bin hello-plugin)
}

build_plugin_executables() {
    build_hello_plugin
    # gen-plugin: any generated plugin as a process (bench/process, a workspace of its own).
    log "cargo build --release in bench/process (gen-plugin; target dir $TARGET_DIR)"
    (cd "$BENCH_DIR/process" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release --quiet)
}

# Per-round differences num - den of COLUMN in PHASE: "min max".
per_round_diff() { # per_round_diff PHASE COLUMN
    awk -F'\t' -v p="$1" -v c="$2" -v n="$num" -v d="$den" '$2 == p { v[$1, $3] = $c } END { for (r = 1; (r, n) in v; r++) print v[r, n] - v[r, d] }' "$tsv" | minmax
}
diff_row() { # diff_row LABEL PHASE COLUMN [bold]: den | num | num - den (spread)
    local b p q
    b="$(med "$2" "$den" "$3")"
    p="$(med "$2" "$num" "$3")"
    q="$(awk -v a="$p" -v b="$b" 'BEGIN { printf "%+.0f", a - b }')"
    if [[ -n "${4:-}" ]]; then q="**$q**"; fi
    printf '| %s | %.0f | %.0f | %s (%s) |\n' "$1" "$b" "$p" "$q" "$(per_round_diff "$2" "$3" | awk '{ printf "%+.0f … %+.0f", $1, $2 }')"
}
rss_mib() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

# The servers of the process and python benchmarks: flovyn-hello serving the greeting, one
# per side, each with one tokio worker pinned to SERVER_CPU at the priority. The sides:
# linked (hello linked, no flovyn.toml), process (hello out of process: the Rust
# hello-plugin) and python (hello out of process: bench/python-hello in Python). A plugin
# process is its server's child and inherits its CPU and scheduling, so it shares that CPU;
# wrk runs on the other. By side: HELLO_PID the server's pid, HELLO_URL the greeting's URL,
# HELLO_CHILD its plugin process's pid (empty when linked), HELLO_RSS and HELLO_CHILD_RSS
# their resident memory after the runs (MiB); HELLO_ANSWER the body all of them gave.
HELLO_PATH="/api/v1/p/hello/greeting?name=Ada"
declare -A HELLO_PID=() HELLO_URL=() HELLO_CHILD=() HELLO_RSS=() HELLO_CHILD_RSS=()
HELLO_ANSWER=""

hello_child() { # hello_child SIDE SERVER_PID: prints the pid of the server's plugin process
    case "$1" in
        process) pgrep -P "$2" -x hello-plugin ;;
        python) pgrep -P "$2" -f "$PYTHON_HELLO" ;;
        *) return 1 ;;
    esac
}
hello_child_sched() { # hello_child_sched PID: "CPUs …, SCHED_…, priority …" of a process
    echo "CPUs $(taskset -cp "$1" | awk -F': ' '{ print $2 }'), $(chrt -p "$1" | awk -F': ' 'NR == 1 { p = $2 } NR == 2 { print p ", priority " $2 }')"
}

# Starts the servers SIDE=PORT..., waits for the greeting of each, checks that each has the
# plugin process it should (and linked none) and that all answer the same, then warms each up.
hello_servers() { # hello_servers SIDE=PORT...
    local arg side port pid child body sides=()
    for arg in "$@"; do
        side="${arg%%=*}" port="${arg#*=}"
        sides+=("$side")
        start_server "$([[ "$side" == linked ]] && echo plugin || echo "$side")" "$RUN_DIR/$side" "$port" \
            "${PRIO[@]}" taskset -c "$SERVER_CPU"
        HELLO_PID[$side]="$STARTED_PID"
        HELLO_URL[$side]="http://127.0.0.1:$port$HELLO_PATH"
    done
    HELLO_ANSWER=""
    for side in "${sides[@]}"; do
        pid="${HELLO_PID[$side]}"
        wait_http "${HELLO_URL[$side]}" "$pid" 30
        if [[ "$side" == linked ]]; then
            if pgrep -P "$pid" >/dev/null; then
                echo "error: the linked server has a child process" >&2
                exit 1
            fi
            HELLO_CHILD[$side]=""
        else
            child="$(hello_child "$side" "$pid")" || {
                echo "error: the $side server has no plugin process; see $RUN_DIR/$side" >&2
                exit 1
            }
            HELLO_CHILD[$side]="$child"
            log "$side: server pid $pid, plugin process pid $child ($(hello_child_sched "$child"))"
        fi
        body="$(curl -fsS "${HELLO_URL[$side]}")"
        if [[ -z "$HELLO_ANSWER" ]]; then
            HELLO_ANSWER="$body"
        elif [[ "$body" != "$HELLO_ANSWER" ]]; then
            echo "error: the servers answer differently: ${sides[0]} $HELLO_ANSWER, $side $body" >&2
            exit 1
        fi
    done
    log "all answer $HELLO_ANSWER"
    if [[ "$WARMUP" -gt 0 ]]; then
        log "warm-up: ${WARMUP}s each"
        for side in "${sides[@]}"; do run_wrk "$CONNECTIONS" "$WARMUP" 0 "${HELLO_URL[$side]}" >/dev/null; done
    fi
}

# ROUNDS rounds over the started servers SIDE..., appended to TSV (measure_run's lines, each
# plugin process's CPU time read beside its server's): each round a run of every side in each
# phase of HELLO_PHASES — saturated (CONNECTIONS, closed loop), paced (PACED_CONNECTIONS),
# single (one connection, paced: one request at a time); the sides in the order given in odd
# rounds, reversed in even ones (ABBA with two sides: a drift in time weighs on all alike).
HELLO_PHASES="saturated paced"
hello_rounds() { # hello_rounds TSV SIDE...
    local tsv="$1" r phase side conns pace i
    shift
    local sides=("$@") order
    for r in $(seq 1 "$ROUNDS"); do
        order=("${sides[@]}")
        if ((r % 2 == 0)); then
            order=()
            for ((i = ${#sides[@]} - 1; i >= 0; i--)); do order+=("${sides[i]}"); done
        fi
        for phase in $HELLO_PHASES; do
            case "$phase" in
                saturated) conns="$CONNECTIONS" pace=0 ;;
                paced) conns="$PACED_CONNECTIONS" pace="$PACE_MS" ;;
                single) conns=1 pace="$PACE_MS" ;;
            esac
            for side in "${order[@]}"; do
                MEASURE_PLUGIN_PID="${HELLO_CHILD[$side]}"
                measure_run "$tsv" "$r" "$phase" "$side" "${HELLO_PID[$side]}" "$conns" "$pace" "${HELLO_URL[$side]}"
                MEASURE_PLUGIN_PID=""
            done
        done
    done
}

# After the rounds: checks that the same plugin process served every run (a restart would
# have shown as 503s, which stop the script, or as a new pid), reads the resident memory,
# stops the servers.
hello_stop() { # hello_stop SIDE...
    local side child pids=()
    for side in "$@"; do
        if [[ -n "${HELLO_CHILD[$side]}" ]]; then
            child="$(hello_child "$side" "${HELLO_PID[$side]}")" || child=""
            if [[ "$child" != "${HELLO_CHILD[$side]}" ]]; then
                echo "error: the $side server's plugin process was restarted during the runs; see $RUN_DIR/$side/server.log" >&2
                exit 1
            fi
            HELLO_CHILD_RSS[$side]="$(rss_mib "$child")"
        else
            HELLO_CHILD_RSS[$side]="–"
        fi
        HELLO_RSS[$side]="$(rss_mib "${HELLO_PID[$side]}")"
        pids+=("${HELLO_PID[$side]}")
    done
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
}

run_process() {
    need_tool wrk wrk
    need_tool taskset util-linux
    need_tool curl curl
    need_tool pgrep procps
    # flovyn-hello, flovyn-100 and the start-up timer (not flovyn-200: its 100 more plugins
    # would take minutes to build for nothing here), then the plugin executables.
    log "cargo build --release -p bench-load -p bench-startup --bin flovyn-hello --bin flovyn-100 --bin startup (target dir $TARGET_DIR)"
    (cd "$BENCH_DIR" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release --quiet \
        -p bench-load -p bench-startup --bin flovyn-hello --bin flovyn-100 --bin startup)
    build_plugin_executables
    local path="$HELLO_PATH"

    log "hello linked (flovyn-hello on 127.0.0.1:$PLUGIN_PORT) vs out of process (flovyn-hello + hello-plugin on 127.0.0.1:$BASELINE_PORT); CPU $SERVER_CPU, 1 tokio worker"
    hello_servers linked="$PLUGIN_PORT" process="$BASELINE_PORT"
    local a="$HELLO_ANSWER" plugin_sched
    plugin_sched="$(hello_child_sched "${HELLO_CHILD[process]}")"

    local tsv="$RUN_DIR/process.tsv" num=process den=linked
    : >"$tsv"
    HELLO_PHASES="saturated paced single"
    hello_rounds "$tsv" linked process
    hello_stop linked process
    local rss_linked="${HELLO_RSS[linked]}" rss_server="${HELLO_RSS[process]}" rss_plugin="${HELLO_CHILD_RSS[process]}"

    local tr p50r p99r p50_add p99_add p99s_add cr verdict
    tr="$(rat saturated 4)"
    p50r="$(rat paced 5)"
    p99r="$(rat paced 7)"
    p50_add="$(awk -v a="$(med paced process 5)" -v b="$(med paced linked 5)" 'BEGIN { printf "%.0f", a - b }')"
    p99_add="$(awk -v a="$(med paced process 7)" -v b="$(med paced linked 7)" 'BEGIN { printf "%.0f", a - b }')"
    p99s_add="$(awk -v a="$(med saturated process 7)" -v b="$(med saturated linked 7)" 'BEGIN { printf "%.0f", a - b }')"
    cr="$(rat saturated 8)"
    verdict="$(awk -v d="$p50_add" -v m="$PROCESS_P50_BUDGET_US" 'BEGIN { print (d <= m) ? "PASS" : "FAIL" }')"
    # One request at a time: the boundary's own latency, nothing queued behind another.
    local p50_add1 p99_add1 verdict1
    p50_add1="$(awk -v a="$(med single process 5)" -v b="$(med single linked 5)" 'BEGIN { printf "%.0f", a - b }')"
    p99_add1="$(awk -v a="$(med single process 7)" -v b="$(med single linked 7)" 'BEGIN { printf "%.0f", a - b }')"
    verdict1="$(awk -v d="$p50_add1" -v m="$PROCESS_P50_BUDGET_US" 'BEGIN { print (d <= m) ? "PASS" : "FAIL" }')"
    # CPU of the server and its plugin process together, per run.
    local total_linked total_process plugin_cpu
    total_linked="$(med saturated linked 8)"
    total_process="$(awk -F'\t' '$2 == "saturated" && $3 == "process" { print $8 + $14 }' "$tsv" | median)"
    plugin_cpu="$(med saturated process 14)"

    # Instructions per request under callgrind: the server process in each mode; out of
    # process, the plugin process's count apart (callgrind follows the server's children).
    local l_instr="" s_instr="" p_instr="" instr_rows=""
    if [[ "$CALLGRIND" != 0 ]] && command -v valgrind >/dev/null 2>&1; then
        log "instruction counts under callgrind (2000 requests on one keep-alive connection, each server; out of process also the plugin process)"
        instructions_per_request plugin process-linked "$path"
        l_instr="$INSTRUCTIONS"
        instructions_per_request process process-process "$path"
        s_instr="$INSTRUCTIONS"
        p_instr="$PLUGIN_INSTRUCTIONS"
        log "instructions per request: linked $l_instr; out of process: server $s_instr + plugin process $p_instr"
        instr_rows="| user-space instructions per request, **server process** (callgrind; exact, load-independent) | $l_instr | $s_instr | $(ratio "$s_instr" "$l_instr") (+$((s_instr - l_instr))) |
| user-space instructions per request, plugin process (hello-plugin) | – | $p_instr | |
| user-space instructions per request, server + plugin process | $l_instr | $((s_instr + p_instr)) | $(ratio "$((s_instr + p_instr))" "$l_instr") (+$((s_instr + p_instr - l_instr))) |"
    elif [[ "$CALLGRIND" != 0 ]]; then
        echo "note: valgrind is missing, instruction counts skipped (apt-get install -y valgrind)" >&2
    fi

    # Warm start-up, linked vs process. The timer (bench/startup) runs each binary in a fresh
    # directory without FLOVYN_* variables; a two-line sh wrapper per case sets FLOVYN_CONFIG
    # (the process cases) and execs the server, so the timer starts the server itself (same
    # pid). The linked cases go through the same wrapper, without the variable.
    local sbin="$RUN_DIR/startup-bin" i n
    mkdir -p "$sbin"
    hello_process_toml >"$sbin/hello-process.toml"
    {
        echo "# bench/run.sh process: $GEN_PROCESSES generated plugins out of process"
        for i in $(seq 1 "$GEN_PROCESSES"); do
            n="$(printf 'gen-%03d' "$i")"
            printf '[plugins.%s]\nmode = "process"\ncommand = "%s"\nargs = ["%s"]\n' "$n" "$BIN/gen-plugin" "$n"
        done
    } >"$sbin/gen-process.toml"
    wrapper() { # wrapper NAME BINARY [CONFIG]
        {
            echo '#!/bin/sh'
            if [[ -n "${3:-}" ]]; then echo "export FLOVYN_CONFIG='$3'"; else echo ': linked'; fi
            echo "exec '$2' \"\$@\""
        } >"$sbin/$1"
        chmod +x "$sbin/$1"
    }
    wrapper hello-linked "$BIN/flovyn-hello"
    wrapper hello-process "$BIN/flovyn-hello" "$sbin/hello-process.toml"
    wrapper gen-linked "$BIN/flovyn-100"
    wrapper gen-process "$BIN/flovyn-100" "$sbin/gen-process.toml"
    local out m0 m1 steal
    log "warm start-up: hello linked vs process, 100 generated plugins linked vs $GEN_PROCESSES of them as processes; $STARTUP_RUNS counted starts each, taking turns"
    m0="$(machine_ticks)"
    out="$("${PRIO[@]}" "$BIN/startup" \
        --server "hello-linked=$sbin/hello-linked:2" \
        --server "hello-proc=$sbin/hello-process:2" \
        --server "gen-linked=$sbin/gen-linked:100" \
        --server "gen-proc=$sbin/gen-process:100" \
        --runs "$STARTUP_RUNS" --warmup 2 --work-dir "$RUN_DIR/process-startup")"
    m1="$(machine_ticks)"
    steal="$(awk -v a="$m0" -v b="$m1" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.1f", 100 * (y[2] - x[2]) / (y[1] - x[1]) }')"
    grep -v '^RESULT' <<<"$out" >&2
    grep '^RESULT' <<<"$out"
    local lh ph lg pg h_add g_add g_per
    lh="$(grep '^RESULT startup label=hello-linked ' <<<"$out")"
    ph="$(grep '^RESULT startup label=hello-proc ' <<<"$out")"
    lg="$(grep '^RESULT startup label=gen-linked ' <<<"$out")"
    pg="$(grep '^RESULT startup label=gen-proc ' <<<"$out")"
    h_add="$(awk -v a="$(field median_ms "$ph")" -v b="$(field median_ms "$lh")" 'BEGIN { printf "%.1f", a - b }')"
    g_add="$(awk -v a="$(field median_ms "$pg")" -v b="$(field median_ms "$lg")" 'BEGIN { printf "%.1f", a - b }')"
    g_per="$(awk -v d="$g_add" -v n="$GEN_PROCESSES" 'BEGIN { printf "%.1f", d / n }')"
    srow() { printf '| %s | %s | %s | %s | %s … %s | %s |' "$1" "$(field runs "$2")" "$(field median_ms "$2")" "$(field p90_ms "$2")" "$(field min_ms "$2")" "$(field max_ms "$2")" "$(field cold_ms "$2")"; }

    PROCESS_MD="$(
        cat <<EOF2
$(machine_md)
- setup: the same server binary both ways, flovyn-hello (flovyn-server's \`serve\`, SQLite, log level info, linking hello and bench-db); *linked*: no flovyn.toml; *process*: a flovyn.toml with \`[plugins.hello] mode = "process"\` and \`command\` = the release \`hello-plugin\` (the other keys at their defaults). Both servers pinned to CPU $SERVER_CPU with \`TOKIO_WORKER_THREADS=1\`; the plugin process is the server's child and inherits its CPU and scheduling ($plugin_sched), so server and plugin share one core; wrk (1 thread) pinned to CPU $WRK_CPU; ${WARMUP}s warm-up each; $ROUNDS rounds, each: saturated linked/process, then paced linked/process, then one at a time linked/process, ABBA order; every run ${DURATION}s
- saturated: \`wrk -t1 -c$CONNECTIONS\`, closed loop; paced: \`wrk -t1 -c$PACED_CONNECTIONS\` with ${PACE_MS} ms between a response and the connection's next request; one at a time: \`wrk -t1 -c1\`, paced the same way
- route: \`GET $path\` → \`$a\`

| median of $ROUNDS rounds | linked | process | process / linked (per-round min … max) |
|---|---:|---:|---:|
$(ratio_row "**throughput**, saturated, req/s" saturated 4 bold)
$(ratio_row "p50 latency, saturated, µs" saturated 5)
$(ratio_row "p99 latency, saturated, µs" saturated 7)
$(ratio_row "p50 latency, paced, µs" paced 5)
$(ratio_row "p90 latency, paced, µs" paced 6)
$(ratio_row "p99 latency, paced, µs" paced 7)
$(ratio_row "offered load, paced, req/s" paced 4)
$(ratio_row "p50 latency, one at a time, µs" single 5)
$(ratio_row "p99 latency, one at a time, µs" single 7)
| CPU per request, saturated, µs: **server process** | $(med saturated linked 8) | $(med saturated process 8) | $cr ($(span "$(per_round saturated 8)" %.3f)) |
| CPU per request, saturated, µs: plugin process | – | $plugin_cpu | |
| CPU per request, saturated, µs: server + plugin process | $total_linked | $total_process | $(ratio "$total_process" "$total_linked") |
${instr_rows}
| CPU use, saturated: server / plugin process / wrk | $(med saturated linked 9)% / – / $(med saturated linked 10)% | $(med saturated process 9)% / $(med saturated process 15)% / $(med saturated process 10)% | |
| resident memory after the runs, MiB: server / plugin process | $rss_linked / – | $rss_server / $rss_plugin | |
| CPU time stolen by the hypervisor (both CPUs), median / max of the runs | $(cut -f12 "$tsv" | median)% / $(steal_max)% | | |

Latency added out of process (the difference of the medians; per round, the difference of the round's two runs), one request at a time and with $PACED_CONNECTIONS paced connections:

| median of $ROUNDS rounds | linked, µs | process, µs | added, µs (per-round min … max) |
|---|---:|---:|---:|
$(diff_row "p50, one at a time" single 5 bold)
$(diff_row "p90, one at a time" single 6)
$(diff_row "p99, one at a time" single 7)
$(diff_row "p50, $PACED_CONNECTIONS connections" paced 5 bold)
$(diff_row "p90, $PACED_CONNECTIONS connections" paced 6)
$(diff_row "p99, $PACED_CONNECTIONS connections" paced 7 bold)

Target: out of process adds at most $PROCESS_P50_BUDGET_US µs to the p50 — one request at a time → **$verdict1** (+$p50_add1 µs); with $PACED_CONNECTIONS paced connections → **$verdict** (+$p50_add µs). Throughput ratio process / linked: **$tr**; p99 added: +$p99_add1 µs one at a time, +$p99_add µs with $PACED_CONNECTIONS connections (at saturation: +$p99s_add µs, see Scheduling under Load).
$(steal_warning "$(steal_max)")

Warm start-up (process start → \`GET /_/health\` 200, migrations applied; the timer of the start-up benchmark, through a one-line sh wrapper in every case; $STARTUP_RUNS counted starts each, taking turns):

| server | warm starts | median ms | p90 ms | min … max ms | cold start ms (not counted) |
|---|---:|---:|---:|---:|---:|
$(srow "flovyn-hello, hello linked" "$lh")
$(srow "flovyn-hello, hello out of process" "$ph")
$(srow "flovyn-100, all 100 linked" "$lg")
$(srow "flovyn-100, gen-001 … gen-$(printf '%03d' "$GEN_PROCESSES") out of process (\`gen-plugin\`)" "$pg")

Added by out of process (difference of the medians): hello **+$h_add ms**; $GEN_PROCESSES generated plugins **+$g_add ms** (~$g_per ms each: the processes start and describe themselves at once, then are initialised one after the other, in start order).
CPU time stolen by the hypervisor during the start-ups: $steal%.
$(steal_warning "$steal")

<details><summary>every run</summary>

| round | phase | server | req/s | p50 µs | p90 µs | p99 µs | server CPU µs/req | plugin process CPU µs/req | server CPU | plugin process CPU | wrk CPU | load avg | steal |
|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(awk -F'\t' '{ pc = ($15 == "-") ? "–" : $15 "%"; pu = ($14 == "-") ? "–" : $14; printf "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s%% | %s | %s%% | %s | %s%% |\n", $1, $2, $3, $4, $5, $6, $7, $8, pu, $9, pc, $10, $11, $12 }' "$tsv")

Start-ups, ms, in order:

- hello linked: $(field samples_ms "$lh" | sed 's/,/, /g')
- hello out of process: $(field samples_ms "$ph" | sed 's/,/, /g')
- 100 linked: $(field samples_ms "$lg" | sed 's/,/, /g')
- 100, $GEN_PROCESSES out of process: $(field samples_ms "$pg" | sed 's/,/, /g')

</details>
EOF2
    )"
    echo "RESULT process throughput_ratio=$tr p50_added_single_us=$p50_add1 p99_added_single_us=$p99_add1 target_single=$verdict1 p50_added_paced_us=$p50_add p99_added_paced_us=$p99_add p50_ratio_paced=$p50r p99_ratio_paced=$p99r linked_rps=$(med saturated linked 4) process_rps=$(med saturated process 4) server_cpu_us_linked=$(med saturated linked 8) server_cpu_us_process=$(med saturated process 8) plugin_cpu_us=$plugin_cpu linked_instructions=${l_instr:-none} server_instructions_process=${s_instr:-none} plugin_instructions=${p_instr:-none} startup_hello_added_ms=$h_add startup_gen${GEN_PROCESSES}_added_ms=$g_add steal_max=$(steal_max) target=$verdict"
}

# ------------------------------------------------------------------------------------------
# The python benchmark: the greeting served by the hello plugin written in Python against the
# same route of the Rust hello, linked and out of process, all three in one run.
PYTHON_MD=""

# The Python environment of scripts/python-env, made (or refreshed) by it when it is missing
# or when its SDK is not this checkout's (bench/run.sh measures the SDK of the checkout).
python_env() {
    local installed=""
    if [[ -x "$PYTHON_ENV/bin/python" ]]; then
        installed="$("$PYTHON_ENV/bin/python" -c 'import flovyn_plugin, os; print(os.path.dirname(flovyn_plugin.__file__))' 2>/dev/null)" || installed=""
    fi
    if [[ -n "$installed" ]] && diff -rq -x __pycache__ "$REPO/sdk-python/src/flovyn_plugin" "$installed" >/dev/null; then
        log "Python environment: $PYTHON_ENV (the SDK of this checkout)"
        return
    fi
    command -v python3 >/dev/null 2>&1 || {
        echo "error: the python benchmark needs python3 (3.11 or newer, with venv) for scripts/python-env" >&2
        exit 1
    }
    log "scripts/python-env: the Python environment $PYTHON_ENV is missing, or its SDK is not this checkout's"
    FLOVYN_PYTHON_ENV="$PYTHON_ENV" "$REPO/scripts/python-env" >/dev/null
}

# Rows of the python benchmark's tables over the caller's tsv: the medians of linked, process
# and python (FORMAT, default %.0f), then python / linked and python / process (three_row) or
# python − linked and python − process (three_diff_row), each with its per-round spread.
three_row() { # three_row LABEL PHASE COLUMN [bold] [FORMAT]
    local f="${5:-%.0f}" l p y q1 q2
    l="$(med "$2" linked "$3")" p="$(med "$2" process "$3")" y="$(med "$2" python "$3")"
    q1="$(ratio "$y" "$l")" q2="$(ratio "$y" "$p")"
    if [[ "${4:-}" == bold ]]; then q1="**$q1**" q2="**$q2**"; fi
    printf "| %s | $f | $f | $f | %s (%s) | %s (%s) |\n" "$1" "$l" "$p" "$y" \
        "$q1" "$(span "$(num=python den=linked per_round "$2" "$3")" %.3f)" \
        "$q2" "$(span "$(num=python den=process per_round "$2" "$3")" %.3f)"
}
three_diff_row() { # three_diff_row LABEL PHASE COLUMN [bold]
    local l p y q1 q2 pm='{ printf "%+.0f … %+.0f", $1, $2 }'
    l="$(med "$2" linked "$3")" p="$(med "$2" process "$3")" y="$(med "$2" python "$3")"
    q1="$(awk -v a="$y" -v b="$l" 'BEGIN { printf "%+.0f", a - b }')"
    q2="$(awk -v a="$y" -v b="$p" 'BEGIN { printf "%+.0f", a - b }')"
    if [[ "${4:-}" == bold ]]; then q1="**$q1**" q2="**$q2**"; fi
    printf '| %s | %.0f | %.0f | %.0f | %s (%s) | %s (%s) |\n' "$1" "$l" "$p" "$y" \
        "$q1" "$(num=python den=linked per_round_diff "$2" "$3" | awk "$pm")" \
        "$q2" "$(num=python den=process per_round_diff "$2" "$3" | awk "$pm")"
}

run_python() {
    need_tool wrk wrk
    need_tool taskset util-linux
    need_tool curl curl
    need_tool pgrep procps
    build bench-load
    build_hello_plugin
    python_env
    local versions
    versions="$("$PYTHON_ENV/bin/python" -c 'import platform; from importlib.metadata import version as v
print("Python " + platform.python_version() + ", " + ", ".join(p + " " + v(p) for p in ("fastapi", "starlette", "pydantic", "grpcio", "protobuf")))')"
    log "$versions"

    local python_port=$((BASELINE_PORT + 1))
    log "hello linked (flovyn-hello on 127.0.0.1:$PLUGIN_PORT), out of process in Rust (+ hello-plugin, 127.0.0.1:$BASELINE_PORT) and in Python (+ bench/python-hello, 127.0.0.1:$python_port); CPU $SERVER_CPU, 1 tokio worker"
    hello_servers linked="$PLUGIN_PORT" process="$BASELINE_PORT" python="$python_port"
    local process_sched python_sched
    process_sched="$(hello_child_sched "${HELLO_CHILD[process]}")"
    python_sched="$(hello_child_sched "${HELLO_CHILD[python]}")"

    local tsv="$RUN_DIR/python.tsv"
    : >"$tsv"
    hello_rounds "$tsv" linked process python
    hello_stop linked process python
    # Column 16: the CPU time per request of the server and its plugin process together.
    awk -F'\t' -v OFS='\t' '{ $16 = sprintf("%.2f", $8 + (($14 == "-") ? 0 : $14)); print }' "$tsv" >"$tsv.all"
    tsv="$tsv.all"

    local tl tp p50_l p50_p p99_l p99_p
    tl="$(num=python den=linked rat saturated 4)"
    tp="$(num=python den=process rat saturated 4)"
    added() { # added COLUMN SIDE: median python - median SIDE, paced
        awk -v a="$(med paced python "$1")" -v b="$(med paced "$2" "$1")" 'BEGIN { printf "%+.0f", a - b }'
    }
    p50_l="$(added 5 linked)" p50_p="$(added 5 process)" p99_l="$(added 7 linked)" p99_p="$(added 7 process)"
    local pm='{ printf "%.3f … %.3f", $1, $2 }'

    PYTHON_MD="$(
        cat <<EOF2
$(machine_md)
- setup: the same server binary three ways, flovyn-hello (flovyn-server's \`serve\`, SQLite, log level info, linking hello and bench-db); *linked*: no flovyn.toml; *Rust process*: a flovyn.toml with \`[plugins.hello] mode = "process"\` and \`command\` = the release \`hello-plugin\`; *Python*: a flovyn.toml with \`[plugins.hello] mode = "process"\`, \`command\` = the Python environment's \`bin/python\` and \`args = ["bench/python-hello/hello_plugin.py"]\` (absolute paths; the other keys at their defaults in both). $versions (the environment of \`scripts/python-env\`, the SDK of this checkout). The three servers pinned to CPU $SERVER_CPU with \`TOKIO_WORKER_THREADS=1\`; each plugin process is its server's child and inherits its CPU and scheduling (Rust: $process_sched; Python: $python_sched), so server and plugin share one core; wrk (1 thread) pinned to CPU $WRK_CPU; ${WARMUP}s warm-up each; $ROUNDS rounds, each: saturated linked / Rust process / Python, then paced in the same order, reversed every other round; every run ${DURATION}s
- saturated: \`wrk -t1 -c$CONNECTIONS\`, closed loop; paced: \`wrk -t1 -c$PACED_CONNECTIONS\` with ${PACE_MS} ms between a response and the connection's next request
- route: \`GET $HELLO_PATH\` → \`$HELLO_ANSWER\` (checked on all three before the runs)
- no instruction counts: under callgrind the Python side's count would be CPython's interpreter loop, not a cost comparable with the Rust code's

| median of $ROUNDS rounds | linked | Rust process | Python | Python / linked (per-round min … max) | Python / Rust process (per-round min … max) |
|---|---:|---:|---:|---:|---:|
$(three_row "**throughput**, saturated, req/s" saturated 4 bold)
$(three_row "p50 latency, saturated, µs" saturated 5)
$(three_row "p99 latency, saturated, µs" saturated 7)
$(three_row "p50 latency, paced, µs" paced 5)
$(three_row "p90 latency, paced, µs" paced 6)
$(three_row "p99 latency, paced, µs" paced 7)
$(three_row "offered load, paced, req/s" paced 4)
$(three_row "CPU per request, saturated, µs: **server process**" saturated 8 "" %.2f)
| CPU per request, saturated, µs: plugin process | – | $(med saturated process 14) | $(med saturated python 14) | – | $(ratio "$(med saturated python 14)" "$(med saturated process 14)") ($(num=python den=process per_round saturated 14 | awk "$pm")) |
$(three_row "CPU per request, saturated, µs: **server + plugin process**" saturated 16 bold %.2f)
| CPU use, saturated: server / plugin process / wrk | $(med saturated linked 9)% / – / $(med saturated linked 10)% | $(med saturated process 9)% / $(med saturated process 15)% / $(med saturated process 10)% | $(med saturated python 9)% / $(med saturated python 15)% / $(med saturated python 10)% | | |
| resident memory after the runs, MiB: server / plugin process | ${HELLO_RSS[linked]} / – | ${HELLO_RSS[process]} / ${HELLO_CHILD_RSS[process]} | ${HELLO_RSS[python]} / ${HELLO_CHILD_RSS[python]} | | |
| CPU time stolen by the hypervisor (both CPUs), median / max of the runs | $(cut -f12 "$tsv" | median)% / $(steal_max)% | | | | |

Latency added by the Python plugin, paced (the difference of the medians; per round, the difference of the round's runs):

| median of $ROUNDS rounds, paced | linked, µs | Rust process, µs | Python, µs | Python − linked, µs (per-round min … max) | Python − Rust process, µs (per-round min … max) |
|---|---:|---:|---:|---:|---:|
$(three_diff_row "p50" paced 5 bold)
$(three_diff_row "p90" paced 6)
$(three_diff_row "p99" paced 7 bold)

Throughput ratio (saturated) Python / linked: **$tl**, Python / Rust process: **$tp**. Paced p50 added by Python: **$p50_l µs** over linked, **$p50_p µs** over the Rust process; p99: $p99_l µs and $p99_p µs.
$(steal_warning "$(steal_max)")

<details><summary>every run</summary>

| round | phase | server | req/s | p50 µs | p90 µs | p99 µs | server CPU µs/req | plugin process CPU µs/req | server CPU | plugin process CPU | wrk CPU | load avg | steal |
|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(awk -F'\t' '{ pc = ($15 == "-") ? "–" : $15 "%"; pu = ($14 == "-") ? "–" : $14; s = ($3 == "process") ? "Rust process" : ($3 == "python") ? "Python" : $3; printf "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s%% | %s | %s%% | %s | %s%% |\n", $1, $2, s, $4, $5, $6, $7, $8, pu, $9, pc, $10, $11, $12 }' "$tsv")

</details>
EOF2
    )"
    echo "RESULT python throughput_ratio_linked=$tl throughput_ratio_process=$tp p50_added_paced_linked_us=$p50_l p50_added_paced_process_us=$p50_p p99_added_paced_linked_us=$p99_l p99_added_paced_process_us=$p99_p linked_rps=$(med saturated linked 4) process_rps=$(med saturated process 4) python_rps=$(med saturated python 4) server_cpu_us_linked=$(med saturated linked 8) server_cpu_us_process=$(med saturated process 8) server_cpu_us_python=$(med saturated python 8) plugin_cpu_us_process=$(med saturated process 14) plugin_cpu_us_python=$(med saturated python 14) rss_plugin_process_mib=${HELLO_CHILD_RSS[process]} rss_plugin_python_mib=${HELLO_CHILD_RSS[python]} steal_max=$(steal_max)"
}

# ------------------------------------------------------------------------------------------
# The events benchmark: worker-token creation with the outbox (this checkout) vs the old
# in-memory bus (EVENTS_OLD_COMMIT), and publish -> handled latency across two replicas.
EVENTS_MD=""
# The last commit whose code has the in-memory bus (docs/decisions/0014-durable-events.md).
EVENTS_OLD_COMMIT=edcc592
PG_PORT_WANTED="${BENCH_PG_PORT:-18190}"

# `git worktree remove`, or when that fails, the directory and then its registration.
remove_worktree() {
    git -C "$REPO" worktree remove --force "$WORKTREE" 2>/dev/null || rm -rf "$WORKTREE"
    git -C "$REPO" worktree prune
    WORKTREE=""
}

# The three binaries: flovyn-events (bench workspace), this checkout's flovyn-server with its
# default features (root workspace, same target directory), and EVENTS_OLD_COMMIT's
# flovyn-server, built once from a worktree of that commit into a target directory of its
# own and reused while its binary exists.
build_events() {
    build bench-events
    log "cargo build --release -p flovyn-server (root workspace, default features; target dir $TARGET_DIR)"
    (cd "$REPO" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release --quiet -p flovyn-server --bin flovyn-server)
    local old_target="$TARGET_DIR/$EVENTS_OLD_COMMIT"
    EVENTS_OLD_BIN="$old_target/release/flovyn-server"
    if [[ -x "$EVENTS_OLD_BIN" ]]; then
        log "reusing $EVENTS_OLD_BIN (flovyn-server of $EVENTS_OLD_COMMIT)"
        return
    fi
    WORKTREE="$TARGET_DIR/$EVENTS_OLD_COMMIT-src"
    if [[ -e "$WORKTREE" ]]; then remove_worktree; WORKTREE="$TARGET_DIR/$EVENTS_OLD_COMMIT-src"; fi
    git -C "$REPO" worktree prune
    git -C "$REPO" worktree add --detach --quiet "$WORKTREE" "$EVENTS_OLD_COMMIT"
    log "cargo build --release --locked -p flovyn-server in a worktree of $EVENTS_OLD_COMMIT (target dir $old_target; ~20 min the first time)"
    (cd "$WORKTREE" && CARGO_TARGET_DIR="$old_target" cargo build --release --quiet --locked -p flovyn-server --bin flovyn-server)
    remove_worktree
}

# A throw-away PostgreSQL in /tmp, on PG_PORT_WANTED, fsync off, started once per run and
# stopped by `cleanup` on every exit path. PostgreSQL refuses to run as root: as root,
# every PostgreSQL command runs as nobody (setpriv) in a directory chowned to it. Its
# processes run at the benchmarks' priority, like the servers.
pg_run() { # pg_run [PREFIX...] PROGRAM ARGS...: PROGRAM from PG_BINDIR, after PREFIX (e.g. chrt)
    local prefix=()
    while [[ ! -x "$PG_BINDIR/$1" ]]; do prefix+=("$1"); shift; done
    local program="$PG_BINDIR/$1"
    shift
    if [[ "$(id -u)" == 0 ]]; then
        "${prefix[@]}" setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups "$program" "$@"
    else
        "${prefix[@]}" "$program" "$@"
    fi
}
start_postgres() {
    [[ -z "$PG_DIR" ]] || return 0
    local d
    for d in "${PG_BIN:-}" "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")" /usr/local/bin \
        $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
        if [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then PG_BINDIR="$d"; break; fi
    done
    [[ -n "$PG_BINDIR" ]] || {
        echo "error: PostgreSQL server binaries (initdb, pg_ctl, postgres) not found (set PG_BIN; apt-get install -y postgresql)" >&2
        exit 1
    }
    port_free "$PG_PORT_WANTED"
    PG_DIR="$(mktemp -d /tmp/flovyn-bench-pg.XXXXXX)"
    if [[ "$(id -u)" == 0 ]]; then chown -R nobody: "$PG_DIR"; fi
    log "PostgreSQL ($PG_BINDIR) in $PG_DIR on 127.0.0.1:$PG_PORT_WANTED"
    (cd "$PG_DIR" && pg_run initdb -D "$PG_DIR/data" --no-sync --auth=trust -U postgres -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1) || {
        echo "error: initdb failed: $(cat "$PG_DIR/initdb.log")" >&2
        exit 1
    }
    (cd "$PG_DIR" && pg_run "${PRIO[@]}" pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 \
        -o "-p $PG_PORT_WANTED -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null) || {
        echo "error: PostgreSQL did not start: $(cat "$PG_DIR/log" 2>/dev/null)" >&2
        exit 1
    }
    PG_PORT="$PG_PORT_WANTED"
}
stop_postgres() {
    pg_run pg_ctl -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
        pg_run pg_ctl -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    PG_DIR="" PG_PORT=""
}
pg_url() { echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"; }
new_pg_database() { # new_pg_database NAME: an empty database (the server is new); prints its URL
    psql -qX -v ON_ERROR_STOP=1 "$(pg_url postgres)" -c "CREATE DATABASE $1" >/dev/null
    pg_url "$1"
}

# The warnings and errors in a server's log, by message (the old bus's "event dropped" lines
# apart: they are counted on their own), e.g. "132 × sequencing events failed; 3 × …".
log_warnings() { # log_warnings LOG
    sed 's/\x1b\[[0-9;]*m//g' "$1" | { grep -a -E '^[^ ]+ +(WARN|ERROR) ' || true; } | { grep -v 'event dropped' || true; } |
        sed -E 's/^[^ ]+ +(WARN|ERROR) [^ ]+: //; s/ [a-z_.]+=.*$//' | sort | uniq -c | sort -rn |
        awk '{ n = $1; $1 = ""; sub(/^ /, ""); out = out (out == "" ? "" : "; ") n " × " $0 } END { print (out == "" ? "none" : out) }'
}

# One SQL query on the database of URL (sqlite://FILE or postgres://…): its rows, the
# columns separated by spaces.
sql_at() { # sql_at URL SQL
    if [[ "$1" == sqlite://* ]]; then
        sqlite3 -cmd '.timeout 10000' -separator ' ' "${1#sqlite://}" "$2"
    else
        psql -qAtX -F ' ' -v ON_ERROR_STOP=1 "$1" -c "$2"
    fi
}
TOKEN_COUNTS_SQL="SELECT (SELECT COUNT(*) FROM p_worker_token__tokens), (SELECT COUNT(*) FROM p_audit_log__events WHERE event = 'worker-token.token-created')"

# Waits until the audit log holds a row per token, its count stopped moving for 5 s (what the
# in-memory bus dropped never comes), or CATCHUP_SECS passed; prints "tokens audit secs
# caught_up" (caught_up: yes, when every token has its row).
wait_delivered() { # wait_delivered URL
    local t0 now last_change counts tokens audit prev=-1
    t0="$(date +%s.%N)"
    last_change="$t0"
    while :; do
        counts="$(sql_at "$1" "$TOKEN_COUNTS_SQL")"
        tokens="${counts% *}" audit="${counts#* }"
        now="$(date +%s.%N)"
        if [[ "$audit" -ge "$tokens" ]]; then
            awk -v t="$tokens" -v a="$audit" -v s="$(awk -v a="$t0" -v b="$now" 'BEGIN { print b - a }')" 'BEGIN { printf "%s %s %.1f yes\n", t, a, s }'
            return
        fi
        if [[ "$audit" != "$prev" ]]; then prev="$audit" last_change="$now"; fi
        if awk -v a="$last_change" -v b="$now" -v t0="$t0" -v d="$CATCHUP_SECS" 'BEGIN { exit !((b - a) >= 5 || (b - t0) >= d) }'; then
            awk -v t="$tokens" -v a="$audit" -v s="$(awk -v a="$t0" -v b="$last_change" 'BEGIN { print b - a }')" 'BEGIN { printf "%s %s %.1f no\n", t, a, s }'
            return
        fi
        sleep 0.1
    done
}

# Part 1 on one database kind: both servers started (outbox on PLUGIN_PORT, in-memory on
# BASELINE_PORT, each on its own fresh database), one token each to check the audit log
# records it, warm-up, ROUNDS alternating saturated runs of token creation, each followed by
# the wait for delivery. Sets THROUGHPUT_MD and prints a RESULT line.
THROUGHPUT_MD=""
events_throughput() { # events_throughput sqlite|postgres
    local db="$1" path="/api/v1/p/worker-token/tokens" header="Authorization: Bearer $ADMIN_TOKEN"
    local new_url="http://127.0.0.1:$PLUGIN_PORT$path" old_url="http://127.0.0.1:$BASELINE_PORT$path"
    local new_db old_db new_pid old_pid side
    if [[ "$db" == postgres ]]; then
        start_postgres
        new_db="$(new_pg_database bench_events_new)"
        old_db="$(new_pg_database bench_events_old)"
    else
        new_db="sqlite://$RUN_DIR/events-$db-new/flovyn.db"
        old_db="sqlite://$RUN_DIR/events-$db-old/flovyn.db"
    fi
    log "events on $db: flovyn-server with the outbox (this checkout) on 127.0.0.1:$PLUGIN_PORT vs with the in-memory bus ($EVENTS_OLD_COMMIT) on 127.0.0.1:$BASELINE_PORT (CPU $SERVER_CPU, 1 tokio worker)"
    SERVER_DB_URL="$new_db"
    start_server events-new "$RUN_DIR/events-$db-new" "$PLUGIN_PORT" "${PRIO[@]}" taskset -c "$SERVER_CPU"
    new_pid="$STARTED_PID"
    SERVER_DB_URL="$old_db"
    start_server events-old "$RUN_DIR/events-$db-old" "$BASELINE_PORT" "${PRIO[@]}" taskset -c "$SERVER_CPU"
    old_pid="$STARTED_PID"
    SERVER_DB_URL=""
    wait_http "http://127.0.0.1:$PLUGIN_PORT/_/health" "$new_pid" 30
    wait_http "http://127.0.0.1:$BASELINE_PORT/_/health" "$old_pid" 30

    # One token each, and its audit row: both servers link worker-token and audit-log.
    local url u code got
    for side in new old; do
        if [[ "$side" == new ]]; then url="$new_url" u="$new_db"; else url="$old_url" u="$old_db"; fi
        code="$(curl -sS -o "$RUN_DIR/events-created.json" -w '%{http_code}' -X POST "$url" \
            -H "$header" -H 'Content-Type: application/json' -d '{"display_name":"bench"}')"
        if [[ "$code" != 201 ]]; then
            echo "error: creating a worker token on the $side server answered $code: $(cat "$RUN_DIR/events-created.json")" >&2
            exit 1
        fi
        got="$(wait_delivered "$u")"
        if [[ "$got" != "1 1 "*" yes" ]]; then
            echo "error: the $side server's audit log did not record its first token (tokens audit secs: $got)" >&2
            exit 1
        fi
    done
    log "both create tokens (201) and record them in the audit log"

    export BENCH_METHOD=POST BENCH_BODY='{"display_name":"bench"}'
    if [[ "$WARMUP" -gt 0 ]]; then
        log "warm-up: ${WARMUP}s each, then the wait for delivery"
        run_wrk "$CONNECTIONS" "$WARMUP" 0 "$old_url" "$header" >/dev/null
        wait_delivered "$old_db" >/dev/null
        run_wrk "$CONNECTIONS" "$WARMUP" 0 "$new_url" "$header" >/dev/null
        wait_delivered "$new_db" >/dev/null
    fi

    # measure_run's lines in tsv; per run in dtsv: round side requests tokens audit
    # not_yet_delivered_at_end catch_up_secs caught_up (tokens and audit: the database's
    # totals once the wait ended).
    local tsv="$RUN_DIR/events-$db.tsv" dtsv="$RUN_DIR/events-$db-delivery.tsv" num=new den=old
    : >"$tsv"
    : >"$dtsv"
    local r pid u0 at_end counts
    for r in $(seq 1 "$ROUNDS"); do
        # ABBA order: the in-memory bus first in odd rounds, the outbox first in even ones.
        local order=(old new)
        ((r % 2 == 0)) && order=(new old)
        for side in "${order[@]}"; do
            if [[ "$side" == new ]]; then pid="$new_pid" url="$new_url" u0="$new_db"; else pid="$old_pid" url="$old_url" u0="$old_db"; fi
            measure_run "$tsv" "$r" saturated "$side" "$pid" "$CONNECTIONS" 0 "$url" "$header"
            counts="$(sql_at "$u0" "$TOKEN_COUNTS_SQL")"
            at_end=$((${counts% *} - ${counts#* }))
            got="$(wait_delivered "$u0")"
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$side" "$(tail -n1 "$tsv" | cut -f13)" \
                "$(cut -d' ' -f1 <<<"$got")" "$(cut -d' ' -f2 <<<"$got")" "$at_end" "$(cut -d' ' -f3 <<<"$got")" "$(cut -d' ' -f4 <<<"$got")" >>"$dtsv"
            log "  $side: $at_end events not yet handled when the run ended; then tokens/audit rows $(cut -d' ' -f1,2 <<<"$got") after $(cut -d' ' -f3 <<<"$got") s (caught up: $(cut -d' ' -f4 <<<"$got"))"
        done
    done
    unset BENCH_METHOD BENCH_BODY
    local new_metrics
    new_metrics="$(curl -fsS "http://127.0.0.1:$PLUGIN_PORT/metrics" || true)"
    kill "$new_pid" "$old_pid" 2>/dev/null || true
    wait "$new_pid" "$old_pid" 2>/dev/null || true

    # Totals once both stopped: every token either server created, every audit row.
    local nt na ot oa dropped delivered
    counts="$(sql_at "$new_db" "$TOKEN_COUNTS_SQL")"
    nt="${counts% *}" na="${counts#* }"
    counts="$(sql_at "$old_db" "$TOKEN_COUNTS_SQL")"
    ot="${counts% *}" oa="${counts#* }"
    dropped="$(grep -c 'event dropped' "$RUN_DIR/events-$db-old/server.log" || true)"
    delivered="$(awk '/^flovyn_events_delivered_total\{plugin="audit-log"\}/ { print $2 }' <<<"$new_metrics")"
    local old_warnings new_warnings
    old_warnings="$(log_warnings "$RUN_DIR/events-$db-old/server.log")"
    new_warnings="$(log_warnings "$RUN_DIR/events-$db-new/server.log")"
    if [[ "$db" == postgres ]]; then
        psql -qX "$(pg_url postgres)" -c "DROP DATABASE bench_events_new" -c "DROP DATABASE bench_events_old" >/dev/null || true
    fi

    local tr cr
    tr="$(rat saturated 4)"
    cr="$(rat saturated 8)"
    dcol() { awk -F'\t' -v s="$1" -v c="$2" '$2 == s { print $c }' "$dtsv"; }
    drow() { # drow LABEL COLUMN: median / max over the runs, old | new
        printf '| %s | %s / %s | %s / %s | |\n' "$1" "$(dcol old "$2" | median)" "$(dcol old "$2" | sort -g | tail -n1)" \
            "$(dcol new "$2" | median)" "$(dcol new "$2" | sort -g | tail -n1)"
    }
    local dbname
    if [[ "$db" == postgres ]]; then dbname="PostgreSQL ($("$PG_BINDIR/postgres" --version | awk '{ print $3 }'), one database per server, fsync off)"; else dbname="SQLite (a fresh file per server)"; fi
    THROUGHPUT_MD="$(
        cat <<EOF
##### On $dbname

| median of $ROUNDS rounds | in-memory bus ($EVENTS_OLD_COMMIT) | outbox (this checkout) | outbox / in-memory (per-round min … max) |
|---|---:|---:|---:|
$(ratio_row "**tokens created per second**, saturated" saturated 4 bold)
$(ratio_row "p50 latency, µs" saturated 5)
$(ratio_row "p99 latency, µs" saturated 7)
| server CPU per request, µs | $(med saturated old 8) | $(med saturated new 8) | $cr ($(span "$(per_round saturated 8)" %.3f)) |
| server / wrk CPU use | $(med saturated old 9)% / $(med saturated old 10)% | $(med saturated new 9)% / $(med saturated new 10)% | |
$(drow "events not yet handled when a run ended, median / max of the runs" 6)
$(drow "then the wait until the audit log stopped growing (outbox: held every token), s, median / max" 7)
| **tokens created** (rows, warm-up and check included) / **audit rows** (\`worker-token.token-created\`) at the end | **$ot / $oa** | **$nt / $na** | |
| events lost (tokens without their audit row) | **$((ot - oa))** (server log: $dropped × "event dropped: the subscriber's queue is full") | **$((nt - na))** (\`flovyn_events_delivered_total{plugin="audit-log"}\`: ${delivered:-?}) | |
| other warnings and errors in the server's log | $old_warnings | $new_warnings | |
| CPU time stolen by the hypervisor (both CPUs), median / max of the runs | $(cut -f12 "$tsv" | median)% / $(steal_max)% | | |

Throughput ratio outbox / in-memory: **$tr**.
$(steal_warning "$(steal_max)")

<details><summary>every run</summary>

| round | server | tokens/s | p50 µs | p99 µs | server CPU µs/req | server CPU | wrk CPU | not yet handled at the end | tokens / audit rows after the wait | wait, s | load avg | steal |
|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
$(paste "$tsv" "$dtsv" | awk -F'\t' '{ printf "| %s | %s | %.0f | %s | %s | %s | %s%% | %s%% | %s | %s / %s | %s%s | %s | %s%% |\n", $1, ($3 == "new") ? "outbox" : "in-memory", $4, $5, $7, $8, $9, $10, $21, $19, $20, $22, ($23 == "yes") ? "" : " (stopped growing)", $11, $12 }')

</details>
EOF
    )"
    echo "RESULT events db=$db throughput_ratio=$tr old_rps=$(med saturated old 4) new_rps=$(med saturated new 4) old_tokens=$ot old_audit=$oa old_lost=$((ot - oa)) old_dropped_logged=$dropped new_tokens=$nt new_audit=$na new_lost=$((nt - na)) steal_max=$(steal_max)"
}

# Part 2: publish -> handled across two replicas of flovyn-events on one PostgreSQL
# database. Replica B starts first and takes the bench-events plugin's delivery lease; A
# starts once B has it. A takes the paced POSTs (one wrk connection, 1000/rate ms between a
# response and the next request). Sets LATENCY_MD and prints a RESULT line.
LATENCY_MD=""
events_latency() {
    start_postgres
    local url b_dir="$RUN_DIR/replica-b" a_dir="$RUN_DIR/replica-a"
    url="$(new_pg_database bench_events_latency)"
    local a_port="$PLUGIN_PORT" b_port="$BASELINE_PORT" a_pid b_pid owner
    log "latency: replica B (flovyn-events, CPU $WRK_CPU) on 127.0.0.1:$b_port, then replica A (CPU $SERVER_CPU) on 127.0.0.1:$a_port, one PostgreSQL database"
    SERVER_DB_URL="$url"
    start_server events-probe "$b_dir" "$b_port" "${PRIO[@]}" taskset -c "$WRK_CPU"
    b_pid="$STARTED_PID"
    wait_http "http://127.0.0.1:$b_port/_/health" "$b_pid" 30
    sleep 1
    owner="$(sql_at "$url" "SELECT lease_owner FROM _event_cursors WHERE plugin = 'bench-events'")"
    if [[ "$owner" != */"$b_pid" ]]; then
        echo "error: replica B (pid $b_pid) does not hold bench-events' delivery lease (owner: ${owner:-none})" >&2
        exit 1
    fi
    start_server events-probe "$a_dir" "$a_port" "${PRIO[@]}" taskset -c "$SERVER_CPU"
    a_pid="$STARTED_PID"
    SERVER_DB_URL=""
    wait_http "http://127.0.0.1:$a_port/_/health" "$a_pid" 30
    log "replica B (pid $b_pid) holds the lease; replica A (pid $a_pid) is up"

    local publish="http://127.0.0.1:$a_port/api/v1/p/bench-events/publish" pace
    pace="$(awk -v r="$EVENTS_RATE" 'BEGIN { printf "%d", 1000 / r + 0.5 }')"
    export BENCH_METHOD=POST
    # Warm-up (connections, caches), then its rows are deleted: counted is what follows.
    if [[ "$WARMUP" -gt 0 ]]; then
        run_wrk 1 "$WARMUP" "$pace" "$publish" >/dev/null
    fi
    local n=0 t
    for t in $(seq 1 100); do
        n="$(sql_at "$url" "SELECT (SELECT COUNT(*) FROM _event_outbox WHERE name = 'bench-events.ping') - (SELECT COUNT(*) FROM p_bench_events__handled)")"
        [[ "$n" -le 0 ]] && break
        sleep 0.1
    done
    sql_at "$url" "DELETE FROM p_bench_events__handled" >/dev/null
    metric() { # metric PORT NAME: the bench-events series NAME of the replica on PORT
        curl -fsS "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n "{plugin=\"bench-events\"}" { print $2 }'
    }
    local b_count0 b_sum0 a_count0
    b_count0="$(metric "$b_port" flovyn_event_delivery_latency_seconds_count)"
    b_sum0="$(metric "$b_port" flovyn_event_delivery_latency_seconds_sum)"
    a_count0="$(metric "$a_port" flovyn_event_delivery_latency_seconds_count)"

    log "publishing through A at ~$EVENTS_RATE/s (${pace} ms between a response and the next request) for ${EVENTS_SECS}s"
    run_wrk 1 "$EVENTS_SECS" "$pace" "$publish" >"$RUN_DIR/events-latency-wrk.out"
    unset BENCH_METHOD
    local line e published handled=0
    line="$(grep '^WRK ' "$RUN_DIR/events-latency-wrk.out")" || { echo "error: no result from wrk: $(cat "$RUN_DIR/events-latency-wrk.out")" >&2; exit 1; }
    for e in errors_connect errors_read errors_write errors_status errors_timeout; do
        if [[ "$(field "$e" "$line")" != 0 ]]; then
            echo "error: wrk reports $e publishing through replica A: $line" >&2
            exit 1
        fi
    done
    published="$(field requests "$line")"
    for t in $(seq 1 300); do
        handled="$(sql_at "$url" "SELECT COUNT(*) FROM p_bench_events__handled")"
        [[ "$handled" -ge "$published" ]] && break
        sleep 0.1
    done
    sleep 1 # the histogram is updated after the handler returns and the cursor moved
    local b_count1 b_sum1 a_count1
    b_count1="$(metric "$b_port" flovyn_event_delivery_latency_seconds_count)"
    b_sum1="$(metric "$b_port" flovyn_event_delivery_latency_seconds_sum)"
    a_count1="$(metric "$a_port" flovyn_event_delivery_latency_seconds_count)"
    kill "$a_pid" "$b_pid" 2>/dev/null || true
    wait "$a_pid" "$b_pid" 2>/dev/null || true

    # Percentiles over the probe's rows (µs: handled - published).
    local stats
    stats="$(sql_at "$url" "WITH l AS (SELECT handled_us - published_us AS us, pid, deliveries FROM p_bench_events__handled)
        SELECT COUNT(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY us), percentile_disc(0.9) WITHIN GROUP (ORDER BY us),
               percentile_disc(0.99) WITHIN GROUP (ORDER BY us), MAX(us), MIN(us), ROUND(AVG(us)),
               SUM(CASE WHEN pid = $b_pid THEN 1 ELSE 0 END), SUM(CASE WHEN pid = $a_pid THEN 1 ELSE 0 END),
               SUM(deliveries) - COUNT(*), SUM(CASE WHEN us >= 100000 THEN 1 ELSE 0 END) FROM l")"
    local count p50 p90 p99 max min avg on_b on_a redelivered slow
    read -r count p50 p90 p99 max min avg on_b on_a redelivered slow <<<"$stats"
    local buckets
    buckets="$(sql_at "$url" "SELECT b, COUNT(*) FROM (SELECT CASE WHEN us < 1000 THEN '1: < 1 ms' WHEN us < 2000 THEN '2: 1–2 ms'
        WHEN us < 5000 THEN '3: 2–5 ms' WHEN us < 10000 THEN '4: 5–10 ms' WHEN us < 50000 THEN '5: 10–50 ms'
        WHEN us < 100000 THEN '6: 50–100 ms' WHEN us < 500000 THEN '7: 100–500 ms' ELSE '8: ≥ 500 ms' END AS b
        FROM (SELECT handled_us - published_us AS us FROM p_bench_events__handled) x) y GROUP BY b ORDER BY b" |
        awk '{ c = $NF; $NF = ""; sub(/^[0-9]: /, ""); sub(/ $/, ""); printf "| %s | %s |\n", $0, c }')"
    local rate b_events b_mean frac ms
    ms() { awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'; }
    rate="$(awk -v n="$published" -v us="$(field duration_us "$line")" 'BEGIN { printf "%.1f", n / (us / 1e6) }')"
    b_events="$(awk -v a="${b_count0:-0}" -v b="${b_count1:-0}" 'BEGIN { print b - a }')"
    b_mean="$(awk -v a="${b_sum0:-0}" -v b="${b_sum1:-0}" -v n="$b_events" 'BEGIN { if (n > 0) printf "%.2f", 1000 * (b - a) / n; else print "–" }')"
    frac="$(awk -v b="$on_b" -v n="$count" 'BEGIN { if (n > 0) printf "%.3f", b / n; else print "–" }')"
    psql -qX "$(pg_url postgres)" -c "DROP DATABASE bench_events_latency" >/dev/null || true

    LATENCY_MD="$(
        cat <<EOF
- setup: two replicas of flovyn-events (flovyn-server's \`serve\` with the bench-events probe plugin only, log level info, \`TOKIO_WORKER_THREADS=1\`) on one PostgreSQL database; replica B (pinned to CPU $WRK_CPU) started first and held bench-events' delivery lease (checked in \`_event_cursors\`), then replica A (pinned to CPU $SERVER_CPU); PostgreSQL not pinned; ${WARMUP}s of warm-up publishing (not counted), then \`POST /api/v1/p/bench-events/publish\` through A for ${EVENTS_SECS}s with one wrk connection and ${pace} ms between a response and the next request (offered ~$EVENTS_RATE/s, measured $rate/s)
- per event: the probe's route takes the time in µs, publishes the event carrying it in its transaction and commits; its \`#[subscribe]\` handler takes the time first thing and stores both with \`std::process::id()\`: latency = handled − published (one clock: both replicas run on this machine)

| publish → handled, over the events published in the run | |
|---|---:|
| events published through A / handled | $published / $count |
| **handled on replica B** / on A (fraction on B) | **$on_b** / $on_a ($frac) |
| delivered more than once | $redelivered |
| **p50**, ms | **$(ms "$p50")** |
| p90, ms | $(ms "$p90") |
| **p99**, ms | **$(ms "$p99")** |
| max, ms (min: $(ms "$min")) | $(ms "$max") |
| mean, ms | $(ms "$avg") |
| events taking 100 ms or more | $slow |
| B's \`flovyn_event_delivery_latency_seconds{plugin="bench-events"}\`: events counted in the run / their mean, ms (from the outbox row's \`published_at\`, ms resolution, to after the cursor moved) | $b_events / $b_mean |
| A's histogram: events counted in the run | $(awk -v a="${a_count0:-0}" -v b="${a_count1:-0}" 'BEGIN { print b - a }') |

<details><summary>distribution</summary>

| publish → handled | events |
|---|---:|
$buckets

</details>
EOF
    )"
    echo "RESULT events_latency published=$published handled=$count on_b=$on_b on_a=$on_a p50_us=$p50 p90_us=$p90 p99_us=$p99 max_us=$max mean_us=$avg redelivered=$redelivered slow_100ms=$slow b_histogram_count=$b_events b_histogram_mean_ms=$b_mean"
}

run_events() {
    need_tool wrk wrk
    need_tool taskset util-linux
    need_tool curl curl
    need_tool git git
    need_tool sqlite3 sqlite3
    need_tool psql postgresql-client
    build_events
    local sqlite_md="" postgres_md=""
    if [[ "$EVENTS_DB" != postgres ]]; then
        events_throughput sqlite
        sqlite_md="$THROUGHPUT_MD"
    fi
    if [[ "$EVENTS_DB" != sqlite ]]; then
        events_throughput postgres
        postgres_md="$THROUGHPUT_MD"
    fi
    events_latency
    stop_postgres
    EVENTS_MD="$(
        cat <<EOF
$(machine_md)
- the old side: flovyn-server of commit \`$EVENTS_OLD_COMMIT\`, built from a git worktree of it (\`$(git -C "$REPO" log -1 --format=%s "$EVENTS_OLD_COMMIT" | cut -c1-60)…\`)

#### Token creation: the outbox vs the in-memory bus

- setup: the release \`flovyn-server\` of this checkout (default features: hello, worker-token, audit-log) vs that of \`$EVENTS_OLD_COMMIT\`, each on its own fresh database, pinned to CPU $SERVER_CPU with \`TOKIO_WORKER_THREADS=1\`, log level info; wrk (1 thread) pinned to CPU $WRK_CPU; \`POST /api/v1/p/worker-token/tokens\`, body \`{"display_name":"bench"}\`, as the admin; ${WARMUP}s warm-up each; $ROUNDS rounds, each: in-memory and outbox, ABBA order; every run ${DURATION}s, \`wrk -t1 -c$CONNECTIONS\`, closed loop; after each run the script waits for the audit log to hold a row per token, or to stop growing for 5 s, at most ${CATCHUP_SECS}s, before the next run

${sqlite_md}

${postgres_md}

#### Publish → handled across replicas (PostgreSQL)

$LATENCY_MD
EOF
    )"
}

# ------------------------------------------------------------------------------------------
write_section() { # write_section NAME CONTENT: replace the text between the markers
    local file="$REPO/BENCHMARKS.md" begin="<!-- bench:$1:begin -->" end="<!-- bench:$1:end -->"
    if ! grep -qF "$begin" "$file" || ! grep -qF "$end" "$file"; then
        echo "warning: $file has no $begin … $end markers; not written" >&2
        return
    fi
    local content="$RUN_DIR/section-$1.md"
    printf '%s\n' "$2" >"$content"
    awk -v begin="$begin" -v end="$end" -v content="$content" '
        $0 == begin { print; while ((getline l < content) > 0) print l; skip = 1; next }
        $0 == end { skip = 0 }
        !skip { print }' "$file" >"$file.tmp"
    mv "$file.tmp" "$file"
    log "wrote the $1 results into BENCHMARKS.md"
}

SECONDS=0
case "$WHICH" in
    load) run_load ;;
    auth) run_auth ;;
    startup) run_startup ;;
    process) run_process ;;
    python) run_python ;;
    events) run_events ;;
    all) run_load; run_auth; run_startup; run_process; run_python; run_events ;;
esac

REPORT="$RESULTS_DIR/$STAMP.md"
{
    echo "# Benchmark run $STAMP ($SECONDS s)"
    if [[ -n "$LOAD_MD" ]]; then printf '\n## Load\n\n%s\n' "$LOAD_MD"; fi
    if [[ -n "$AUTH_MD" ]]; then printf '\n## Authentication\n\n%s\n' "$AUTH_MD"; fi
    if [[ -n "$STARTUP_MD" ]]; then printf '\n## Start-up\n\n%s\n' "$STARTUP_MD"; fi
    if [[ -n "$PROCESS_MD" ]]; then printf '\n## Plugins out of process\n\n%s\n' "$PROCESS_MD"; fi
    if [[ -n "$PYTHON_MD" ]]; then printf '\n## Plugins in Python\n\n%s\n' "$PYTHON_MD"; fi
    if [[ -n "$EVENTS_MD" ]]; then printf '\n## Events\n\n%s\n' "$EVENTS_MD"; fi
} >"$REPORT"
echo
cat "$REPORT"
echo
log "report: $REPORT (whole run: $SECONDS s)"
if [[ "$WRITE" == 1 ]]; then
    if [[ -n "$LOAD_MD" ]]; then write_section load "$LOAD_MD"; fi
    if [[ -n "$AUTH_MD" ]]; then write_section auth "$AUTH_MD"; fi
    if [[ -n "$STARTUP_MD" ]]; then write_section startup "$STARTUP_MD"; fi
    if [[ -n "$PROCESS_MD" ]]; then write_section process "$PROCESS_MD"; fi
    if [[ -n "$PYTHON_MD" ]]; then write_section python "$PYTHON_MD"; fi
    if [[ -n "$EVENTS_MD" ]]; then write_section events "$EVENTS_MD"; fi
fi
