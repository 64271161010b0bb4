# SPDX-License-Identifier: BSD-3-Clause
# Shared part of the end-to-end tests (sourced by tests/e2e/*.test).
#
# A test boots the QEMU lab guest (tests/e2e/lab/run) against the daemon
# built in this tree, runs a guest program in it, and checks both sides.
# It skips (exit 77, with a message) when there is no usable lab:
#
#   VFU_LAB           the lab directory (default /var/tmp/vfu-lab), made by
#                     tests/e2e/lab/setup; its QEMU must be 10.1 or newer
#   VFU_E2E_TIMEOUT   seconds a guest may run (default 300)
#   VFU_E2E_KEEP=1    keep the scratch directory (daemon log, console)
#
# The automake harness runs tests in the top build directory and exports
# srcdir; run by hand, a test works from the build directory as well:
#   srcdir=SRC SRC/tests/e2e/gpio.test
#
# Functions return only on success: any failure prints the guest console and
# the daemon log, then exits 1 (the cleanup trap stops whatever still runs).

set -u

e2e_name=$(basename "$0" .test)
e2e_src=$(cd "${srcdir:-$(dirname "$0")/../..}" && pwd)
e2e_build=$(pwd)
VFU_LAB=${VFU_LAB:-/var/tmp/vfu-lab}
e2e_timeout=${VFU_E2E_TIMEOUT:-300}
# A command the daemon is started through (a benchmark runs it with another
# loader and libraries this way); empty: the daemon itself.
e2e_daemon_loader=${e2e_daemon_loader:-}
e2e_tmp=""
e2e_daemon_pid=""
e2e_run_pid=""

e2e_say() {
    echo "$e2e_name: $*"
}

e2e_skip() {
    echo "SKIP: $e2e_name: $*"
    exit 77
}

# The guest console from the lab's first line on, and what QEMU or the lab
# said before it; without the firmware's terminal escapes.
e2e_show_console() {
    [ -f "$e2e_tmp/console" ] || return 0
    esc=$(printf '\033')
    echo "---- guest console ----"
    if grep -aq 'VFU-LAB: guest up' "$e2e_tmp/console"; then
        sed -n '1,/VFU-LAB: guest up/{/qemu/p;}; /VFU-LAB: guest up/,$p' "$e2e_tmp/console"
    else
        cat "$e2e_tmp/console"
    fi | tr -d '\r' | sed "s/${esc}\[[0-9;?]*[A-Za-z]//g; s/${esc}c//g"
}

e2e_show_daemon_log() {
    [ -f "$e2e_tmp/daemon.log" ] || return 0
    echo "---- daemon log ----"
    cat "$e2e_tmp/daemon.log"
}

e2e_fail() {
    echo "FAIL: $e2e_name: $*"
    e2e_show_console
    e2e_show_daemon_log
    exit 1
}

# Send SIGTERM to every process of session $1.  e2e_boot starts the lab in a
# session of its own; timeout(1) in there moves QEMU to another process
# group, but not out of the session.
e2e_kill_session() {
    for f in /proc/[0-9]*/stat; do
        sid=$(sed 's/^.*) //' "$f" 2>/dev/null | cut -d' ' -f4)
        if [ "$sid" = "$1" ]; then
            pid=${f#/proc/}
            kill -TERM "${pid%/stat}" 2>/dev/null
        fi
    done
}

e2e_cleanup() {
    rc=$?
    trap - EXIT
    if [ -n "$e2e_run_pid" ]; then
        e2e_kill_session "$e2e_run_pid"
        kill -TERM "$e2e_run_pid" 2>/dev/null
        wait "$e2e_run_pid" 2>/dev/null
    fi
    if [ -n "$e2e_daemon_pid" ] && kill -0 "$e2e_daemon_pid" 2>/dev/null; then
        kill -KILL "$e2e_daemon_pid" 2>/dev/null
        wait "$e2e_daemon_pid" 2>/dev/null
    fi
    if [ -n "$e2e_tmp" ]; then
        if [ "${VFU_E2E_KEEP:-}" = 1 ]; then
            echo "$e2e_name: kept $e2e_tmp"
        else
            rm -rf "$e2e_tmp"
        fi
    fi
    exit "$rc"
}

# Skip unless the lab is there with a QEMU that has vfio-user-pci (10.1+),
# asked the same way the lab's run script starts it.
e2e_require_lab() {
    root=$VFU_LAB/sid
    [ -x "$root/usr/bin/qemu-system-x86_64" ] ||
        e2e_skip "no QEMU lab at $VFU_LAB (create it as root with" \
            "$e2e_src/tests/e2e/lab/setup, or point VFU_LAB at one)"
    for f in vmlinuz initrd.base kver; do
        [ -f "$VFU_LAB/$f" ] || e2e_skip "the lab at $VFU_LAB has no $f (rerun its setup)"
    done
    for tool in timeout cpio gzip; do
        command -v "$tool" >/dev/null || e2e_skip "$tool is needed to boot the lab guest"
    done
    version=$("$root/usr/lib64/ld-linux-x86-64.so.2" --library-path \
        "$root/usr/lib/x86_64-linux-gnu" "$root/usr/bin/qemu-system-x86_64" \
        --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2/p')
    [ -n "$version" ] || e2e_skip "cannot run the lab's QEMU ($root/usr/bin/qemu-system-x86_64)"
    set -- $version
    if [ "$1" -lt 10 ] || { [ "$1" -eq 10 ] && [ "$2" -lt 1 ]; }; then
        e2e_skip "the lab's QEMU is $1.$2; vfio-user-pci needs 10.1 or newer"
    fi
    e2e_say "lab $VFU_LAB, QEMU $1.$2, guest kernel $(cat "$VFU_LAB/kver")"
}

# Everything the test needs from the build; call after e2e_require_lab.
e2e_setup() {
    e2e_require_lab
    [ -x "$e2e_build/daemon/vfiouserd" ] ||
        e2e_fail "no daemon/vfiouserd in $e2e_build: run the test from the build directory"
    for p in "$@"; do
        [ -x "$e2e_build/tests/e2e/guest/$p" ] ||
            e2e_fail "guest program tests/e2e/guest/$p is not built (make check builds it)"
    done
    e2e_tmp=$(mktemp -d "${TMPDIR:-/tmp}/vfu-e2e-$e2e_name.XXXXXX") ||
        e2e_fail "mktemp failed"
    trap e2e_cleanup EXIT
    trap 'exit 130' INT TERM HUP
}

e2e_sleep() {
    sleep 0.2 2>/dev/null || sleep 1
}

# Start the built daemon on the configuration file $e2e_tmp/vfiouserd.conf
# and wait for the sockets named as arguments to appear.  Logs go to
# $e2e_tmp/daemon.log with their syslog level as "<N>" prefix.
e2e_start_daemon() {
    ${e2e_daemon_loader:-} "$e2e_build/daemon/vfiouserd" --log=journal \
        --plugin-dir="$e2e_build/plugins/.libs" -c "$e2e_tmp/vfiouserd.conf" \
        >"$e2e_tmp/daemon.log" 2>&1 &
    e2e_daemon_pid=$!
    for s in "$@"; do
        n=0
        until [ -S "$s" ]; do
            kill -0 "$e2e_daemon_pid" 2>/dev/null || e2e_fail "the daemon exited at start"
            n=$((n + 1))
            [ $n -lt 300 ] || e2e_fail "no socket $s after 60 s"
            e2e_sleep
        done
    done
    e2e_say "daemon running (pid $e2e_daemon_pid)"
}

# Stop the daemon with SIGTERM: it must exit 0, remove its sockets (given as
# arguments) and have logged nothing at level error or worse.  Warnings are
# shown, not fatal.
e2e_stop_daemon() {
    kill -TERM "$e2e_daemon_pid" 2>/dev/null || e2e_fail "the daemon died during the test"
    n=0
    while kill -0 "$e2e_daemon_pid" 2>/dev/null; do
        n=$((n + 1))
        [ $n -lt 150 ] || e2e_fail "the daemon did not stop within 30 s of SIGTERM"
        e2e_sleep
    done
    wait "$e2e_daemon_pid"
    rc=$?
    e2e_daemon_pid=""
    [ $rc -eq 0 ] || e2e_fail "the daemon exited with status $rc after SIGTERM"
    for s in "$@"; do
        [ ! -e "$s" ] || e2e_fail "the daemon left its socket $s behind"
    done
    if grep -q '^<[0-3]>' "$e2e_tmp/daemon.log"; then
        grep '^<[0-3]>' "$e2e_tmp/daemon.log"
        e2e_fail "the daemon logged errors"
    fi
    # The workload ran in the sandbox, and (no error above) no system call
    # of the daemon or its plugins was refused: no false kills.
    grep -q 'sandbox: in force' "$e2e_tmp/daemon.log" ||
        grep -q 'sandbox = off' "$e2e_tmp/vfiouserd.conf" 2>/dev/null ||
        e2e_fail "the daemon ran without its sandbox"
    if grep -q '^<4>' "$e2e_tmp/daemon.log"; then
        e2e_say "daemon warnings:"
        grep '^<4>' "$e2e_tmp/daemon.log"
    fi
    e2e_say "daemon stopped on SIGTERM with status 0, no errors logged"
}

# Boot the guest in the background with the lab's run script:
#   e2e_boot [run options] GUEST-SCRIPT [QEMU args]
# The console (stdout and stderr of run, so QEMU's messages too) goes to
# $e2e_tmp/console.  setsid puts run, timeout and QEMU in a session of
# their own, which the cleanup can stop as a whole.
e2e_boot() {
    e2e_boot_start=$(date +%s)
    setsid -w "$e2e_src/tests/e2e/lab/run" --lab "$VFU_LAB" --timeout "$e2e_timeout" \
        "$@" >"$e2e_tmp/console" 2>&1 </dev/null &
    e2e_run_pid=$!
}

# True while the guest started by e2e_boot runs.
e2e_guest_running() {
    kill -0 "$e2e_run_pid" 2>/dev/null
}

# Wait for the guest to power off; it must report status 0, and QEMU must
# not have complained (lines "qemu-system-x86_64: ...").
e2e_wait_guest() {
    wait "$e2e_run_pid"
    rc=$?
    e2e_run_pid=""
    secs=$(($(date +%s) - e2e_boot_start))
    # run exits 125 when the guest printed no result: QEMU did not start,
    # died, or was stopped by run's timeout.
    if [ $rc -eq 125 ]; then
        e2e_fail "the guest gave no result after $secs s (QEMU failed, or the" \
            "guest ran longer than $e2e_timeout s: VFU_E2E_TIMEOUT)"
    elif [ $rc -ne 0 ]; then
        e2e_fail "the guest test failed with status $rc after $secs s"
    fi
    if grep -aq 'qemu-system-x86_64: ' "$e2e_tmp/console"; then
        e2e_fail "QEMU reported problems"
    fi
    e2e_show_console
    e2e_say "guest passed in $secs s"
}

# Run a command with a deadline, e.g. to write to a FIFO whose reader may
# be gone.
e2e_with_timeout() {
    timeout 30 "$@" || e2e_fail "\"$*\" failed or hung"
}

# The guest's console must contain this line (a fixed string).
e2e_console_has() {
    grep -aqF -- "$1" "$e2e_tmp/console" || e2e_fail "the console lacks \"$1\""
}

# The daemon log must (or, with !, must not) match this basic regex.
e2e_log_has() {
    if [ "$1" = "!" ]; then
        ! grep -q -- "$2" "$e2e_tmp/daemon.log" || e2e_fail "the daemon log matches \"$2\""
    else
        grep -q -- "$1" "$e2e_tmp/daemon.log" || e2e_fail "the daemon log lacks \"$1\""
    fi
}
