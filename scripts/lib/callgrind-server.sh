# Sourced by the scripts that run ostiary-bench against a server under valgrind's callgrind
# (symbol-order.sh, instructions-per-sign-in.sh).
#
# The bench stops its server with SIGKILL, which would lose callgrind's profile: the wrapper runs the
# server in its own background instead, and stop_servers stops it with SIGTERM, so callgrind writes
# the profile as it exits. The paths reach the wrapper through the environment (the bench passes it
# on).

# callgrind_server WORK BIN [VALGRIND_OPTION...]: writes WORK/ostiary, to give the bench as its
# --server. Each run of it (the CLI's commands too) is BIN under callgrind, its profile in
# WORK/callgrind.PID.out, its pid added to WORK/pids.
callgrind_server() {
    export CALLGRIND_WORK="$1" CALLGRIND_BIN="$2"
    shift 2
    export CALLGRIND_OPTIONS="$*"
    cat >"$CALLGRIND_WORK/ostiary" <<'EOF'
#!/bin/sh
# shellcheck disable=SC2086 # the options are words of their own
valgrind --tool=callgrind --dump-instr=no $CALLGRIND_OPTIONS \
    --callgrind-out-file="$CALLGRIND_WORK/callgrind.%p.out" "$CALLGRIND_BIN" "$@" &
echo $! >>"$CALLGRIND_WORK/pids"
wait $!
EOF
    chmod +x "$CALLGRIND_WORK/ostiary"
}

# Stops the servers under callgrind (SIGTERM: each writes its profile as it exits), waiting up to
# a minute for each; SIGKILL after that.
stop_servers() {
    [ -f "$CALLGRIND_WORK/pids" ] || return 0
    local pid tries
    while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$CALLGRIND_WORK/pids"
    while read -r pid; do
        tries=0
        while kill -0 "$pid" 2>/dev/null && [ "$tries" -lt 300 ]; do sleep 0.2; tries=$((tries + 1)); done
        kill -KILL "$pid" 2>/dev/null || true
    done <"$CALLGRIND_WORK/pids"
    rm -f "$CALLGRIND_WORK/pids"
}
