#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# bench-nvme-guest: the NVMe plugin against QEMU's built-in NVMe device, as a
# Linux guest sees them.  Run by "make bench-nvme-guest"; prints figures,
# never fails on them (only when something does not work).
#
#   bench-nvme-guest.sh [--runtime S] [--reps N] [--size MiB] [--nbd | --rbd]
#                       [--lab-libs] [--nbd-conns N]
#                       [--jobs "randread randwrite seqread randread1"]
#                       [--devices "qemu shadow adaptive poll"]
#
# One boot of the QEMU lab (tests/e2e/lab, as the end-to-end tests use it;
# skips with 77 without it) with four NVMe controllers attached at once,
# each backed by a raw file of the same size, created the same way
# (written with zeroes, so not sparse) in the same directory:
#
#   qemu    QEMU's own -device nvme (cache=writeback, aio=threads: the
#           defaults, given explicitly), added with the lab's extra QEMU
#           arguments; our namespaces use cache = writeback likewise, so
#           both sides write into the host's page cache
#   shadow  the plugin with doorbells=shadow (device "sh0")
#   adaptive the plugin with doorbells=adaptive (device "ad0")
#   poll    the plugin with doorbells=poll   (device "po0")
#
# --nbd: the plugin devices share one NBD export instead (nbdkit's file
# plugin serving one such file on a UNIX socket): QEMU's NVMe with
# -drive file=nbd+unix:///?socket=..., ours with namespace.1.uri.
#
# QEMU's NBD client opens one connection; ours opens
# namespace.N.connections (over a UNIX socket 1 by default) when the server
# allows multi-conn, as nbdkit's file plugin does: --nbd-conns 4 compares
# four against one.
#
# --rbd: every device on one RBD image of a one-node Ceph cluster
# (tests/plugins/nvme/ceph-cluster, started for the run): QEMU's NVMe with
# its own rbd driver (-drive file=rbd:rbd/bench:conf=..., librbd of the
# lab's tree), ours with namespace.1.uri = rbd:rbd/bench.  The image is
# written in full first, so that reads find data.
#
# --lab-libs: our daemon runs with the lab tree's loader and libraries
# (librbd/librados, libnbd, glibc of Debian sid), the ones QEMU runs with,
# instead of the host's (Debian 12: librbd 16, QEMU's tree: librbd 20), so
# that both sides of the comparison use the same client library.  The
# binary is the one built here: those libraries keep their ABI.
#
# The plugin devices run in one daemon (its threads are named after the
# devices, so their CPU time is told apart).  Guest memory is a shared
# memfd.  In the guest fio runs, for each job, on each device in turn (the
# order rotates with the repetition so drift hits every device alike):
#
#   randread   4 KiB random reads,  iodepth 32, libaio, O_DIRECT
#   randwrite  4 KiB random writes, iodepth 32
#   seqread    128 KiB sequential reads, iodepth 32
#   randread1  4 KiB random reads at iodepth 1 (latency; not in the
#              default --jobs)
#
# each time-based for --runtime seconds (default 5) over the whole device.
# --jobs and --devices run a subset (in this order of the lists above).
# The table gives, per job and device, the median and [min-max] over
# --reps (default 6: short runs and more of them, so that a verdict does
# not hang on one noisy run; about 9 minutes with all four devices, 4.5
# with --devices "qemu shadow") of IOPS, mean and 99th percentile
# completion latency, the interrupts the guest took per I/O (its
# /proc/interrupts, the device's queues: every interrupt costs the guest's
# CPU, which under TCG is what the figures mostly measure), and the ratio
# of our IOPS to QEMU's in the same repetition (the target is >= 1.00 for
# every job in every mode).
# The last lines give the daemon CPU time per I/O of each plugin device
# over the whole run (its device thread and I/O thread, from schedstat;
# the whole daemon's, librados' and libnbd's threads included, follows),
# and the messages QEMU sent each of them per I/O (vfiouserctl status:
# doorbell writes, mostly; QEMU's own NVMe takes its doorbells in-process).
# A last table splits CPU time per I/O by thread, per job and device, both
# sides alike: read from /proc around each fio run, so QEMU's main loop
# and librbd threads count for its own NVMe, and the same main loop
# (interrupts, message replies) for ours; the vCPUs and the storage
# server are given for each too.
#
# The guest runs under TCG (VFU_LAB_KVM=1 uses KVM where it works), so the
# absolute figures are small and mostly measure QEMU's CPU emulation; the
# ratios are what compares the devices.
set -u
runtime=5
reps=6
size=256
nbd=""
rbd=""
lab_libs=""
nbd_conns=""
jobs="randread randwrite seqread"
devices="qemu shadow adaptive poll"
while [ $# -gt 0 ]; do
    case "$1" in
    --nbd) nbd=1; shift ;;
    --rbd) rbd=1; shift ;;
    --lab-libs) lab_libs=1; shift ;;
    --nbd-conns) nbd_conns=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --devices) devices=$2; shift 2 ;;
    *) echo "usage: $0 [--runtime S] [--reps N] [--size MiB] [--nbd | --rbd]" \
            "[--jobs LIST] [--devices LIST]" >&2
       exit 2 ;;
    esac
done

lib=$(dirname "$0")/../e2e/lib.sh
[ -f "$lib" ] || { echo "SKIP: no tests/e2e/lib.sh"; exit 77; }
. "$lib"
# a long enough deadline for the whole run: 3 jobs x 4 devices x reps (fio
# starts slowly under TCG on a busy host)
VFU_E2E_TIMEOUT=$((12 * reps * (runtime + 15) + 240))
e2e_timeout=$VFU_E2E_TIMEOUT

e2e_setup
if [ -n "$lab_libs" ]; then
    e2e_require_lab
    r=$VFU_LAB/sid
    e2e_daemon_loader="$r/usr/lib64/ld-linux-x86-64.so.2 --library-path \
$r/usr/lib/x86_64-linux-gnu:$r/lib/x86_64-linux-gnu:$r/usr/lib/x86_64-linux-gnu/ceph"
    $e2e_daemon_loader --list "$e2e_build/plugins/.libs/nvme.so" >"$e2e_tmp/ldd" 2>&1 &&
        ! grep -q 'not found' "$e2e_tmp/ldd" ||
        { cat "$e2e_tmp/ldd"; e2e_skip "the lab tree lacks libraries the plugin needs"; }
fi
for d in qemu sh0 ad0 po0; do
    [ -n "$nbd$rbd" ] && [ $d != qemu ] && continue
    [ -n "$rbd" ] && continue
    dd if=/dev/zero of="$e2e_tmp/$d.img" bs=1M count="$size" 2>/dev/null ||
        e2e_fail "cannot create $e2e_tmp/$d.img"
done
# Like with like: both sides write into the host's page cache and tell the
# guest so (a volatile write cache, which Flush and FUA reach through).
ns_sh0="path = $e2e_tmp/sh0.img
cache = writeback"
ns_ad0="path = $e2e_tmp/ad0.img
cache = writeback"
ns_po0="path = $e2e_tmp/po0.img
cache = writeback"
qemu_file="$e2e_tmp/qemu.img"
qemu_cache=",cache=writeback,aio=threads"
cache_note="host page cache on both sides: QEMU -drive cache=writeback,aio=threads; ours cache = writeback; both report a volatile write cache"
if [ -n "$nbd" ]; then
    command -v nbdkit >/dev/null || e2e_skip "no nbdkit"
    nbdkit -U "$e2e_tmp/nbd.sock" -P "$e2e_tmp/nbdkit.pid" file \
        file="$e2e_tmp/qemu.img" || e2e_fail "nbdkit did not start"
    trap 'kill "$(cat "$e2e_tmp/nbdkit.pid")"; e2e_cleanup' EXIT
    ns_sh0="uri = nbd+unix:///?socket=$e2e_tmp/nbd.sock"
    [ -n "$nbd_conns" ] && ns_sh0="$ns_sh0
namespace.1.connections = $nbd_conns"
    ns_ad0=$ns_sh0
    ns_po0=$ns_sh0
    qemu_file="nbd+unix:///?socket=$e2e_tmp/nbd.sock"
    qemu_cache=""
    cache_note="no cache on either side but nbdkit's; connections: QEMU 1, ours ${nbd_conns:-1 (the default)} if the server allows multi-conn"
fi
if [ -n "$rbd" ]; then
    command -v ceph-osd >/dev/null || e2e_skip "no Ceph (ceph-mon ceph-osd ceph-common)"
    ceph=/tmp/vfu-bench-ceph.$$
    trap '"$e2e_src/tests/plugins/nvme/ceph-cluster" destroy "$ceph"; e2e_cleanup' EXIT
    "$e2e_src/tests/plugins/nvme/ceph-cluster" start "$ceph" rbd bench "$size" \
        >/dev/null 2>"$e2e_tmp/ceph.log" ||
        { cat "$e2e_tmp/ceph.log"; e2e_fail "the Ceph cluster did not start"; }
    rbd -c "$ceph/ceph.conf" bench --io-type write --io-size 4M \
        --io-total "${size}M" --io-pattern seq rbd/bench >/dev/null ||
        e2e_fail "cannot fill the image"
    ns_sh0="uri = rbd:rbd/bench
namespace.1.rbd-conf = $ceph/ceph.conf"
    ns_ad0=$ns_sh0
    ns_po0=$ns_sh0
    qemu_file="rbd:rbd/bench:conf=$ceph/ceph.conf"
    qemu_cache=""
    # QEMU's rbd driver sets rbd_cache = true unless the drive has
    # cache.direct (its default cache=writeback does not); ours sets it
    # from namespace.N.cache, writeback by default.
    cache_note="rbd_cache = true on both sides (QEMU: -drive cache=writeback, its default; ours: cache = writeback, the default); ours also sets rbd_non_blocking_aio = false"
fi
# Only the plugin devices asked for are configured and attached: an idle
# device is not free (a poll-mode device spins while the others run), and
# on a small host it would take CPU from the ones measured, QEMU's too.
case " $devices " in *" qemu "*) ;; *) devices="qemu $devices" ;; esac
printf '[daemon]\nsocket-dir = %s\n' "$e2e_tmp" >"$e2e_tmp/vfiouserd.conf"
socks=""
ndev=1
for d in $devices; do
    case $d in
    shadow) n=sh0; ser=SHADOW; ns=$ns_sh0 ;;
    adaptive) n=ad0; ser=ADAPTIVE; ns=$ns_ad0 ;;
    poll) n=po0; ser=POLL; ns=$ns_po0 ;;
    qemu) continue ;;
    *) e2e_fail "unknown device $d (qemu shadow adaptive poll)" ;;
    esac
    cat >>"$e2e_tmp/vfiouserd.conf" <<EOF

[$n]
plugin = nvme
serial = VFUD-BENCH-$ser
queues = 4
doorbells = $d
$ns
EOF
    socks="$socks $e2e_tmp/$n.sock"
    ndev=$((ndev + 1))
done

cat >"$e2e_tmp/guest.sh" <<GUEST
RT=$runtime
REPS=$reps
JOBS="$jobs"
DEVICES="$devices"
NDEV=$ndev
GUEST
cat >>"$e2e_tmp/guest.sh" <<'GUEST'
set -u
fail() { echo "BENCH: FAIL: $*"; dmesg | grep -i nvme | tail -20; exit 1; }
modprobe nvme || fail "modprobe nvme"
i=0
while [ "$(ls /sys/block | grep -c '^nvme')" -lt "$NDEV" ] && [ $i -lt 150 ]; do
    sleep 0.2; i=$((i + 1))
done
for b in /sys/block/nvme*n*; do
    case $(cat "$b/device/serial") in
    QEMU-BENCH*) QEMU=/dev/${b##*/} ;;
    VFUD-BENCH-SHADOW*) SHADOW=/dev/${b##*/} ;;
    VFUD-BENCH-ADAPTIVE*) ADAPTIVE=/dev/${b##*/} ;;
    VFUD-BENCH-POLL*) POLL=/dev/${b##*/} ;;
    esac
done
for d in $DEVICES; do
    case $d in
    qemu) [ -n "${QEMU:-}" ] ;; shadow) [ -n "${SHADOW:-}" ] ;;
    adaptive) [ -n "${ADAPTIVE:-}" ] ;; poll) [ -n "${POLL:-}" ] ;;
    esac || fail "device $d missing"
done
echo "qemu $QEMU, shadow ${SHADOW:-}, adaptive ${ADAPTIVE:-}, poll ${POLL:-}"
grep nvme /proc/interrupts
dev_of() {
    case $1 in
    qemu) echo "$QEMU" ;; shadow) echo "$SHADOW" ;;
    adaptive) echo "$ADAPTIVE" ;; poll) echo "$POLL" ;;
    esac
}
# iops, mean and p99 completion latency (us), I/Os done: for "read" or
# "write" of fio's JSON output
parse() {
    awk -v dir="\"$1\"" '
        index($0, dir " : {") { on = 1 }
        on && /"iops" :/ && !iops { gsub(/[ ,]/, "", $3); iops = $3 }
        on && /"total_ios" :/ && !ios { gsub(/[ ,]/, "", $3); ios = $3 }
        on && index($0, "\"clat_ns\" : {") { cl = 1 }
        on && cl && /"mean" :/ && !mean { gsub(/[ ,]/, "", $3); mean = $3 }
        on && cl && /"99.000000" :/ && !p99 { gsub(/[ ,]/, "", $3); p99 = $3 }
        on && index($0, "\"lat_ns\" : {") { on = 0 }
        END { printf "%d %.1f %.1f %d\n", iops, mean / 1000, p99 / 1000, ios }
    ' /tmp/out.json
}
# interrupts taken so far by the queues of NVMe block device $1 (nvmeN)
irqs() {
    awk -v q="${1#/dev/}" '
        { n = $NF; sub(/n[0-9]+$/, "", q) }
        index(n, q "q") == 1 { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i }
        END { print s + 0 }' /proc/interrupts
}
rep=1
while [ $rep -le "$REPS" ]; do
    # the devices in an order rotated by one each repetition, so that
    # drift hits every device alike and QEMU and ours alternate
    order=$DEVICES
    k=1
    while [ $k -lt "$rep" ]; do
        set -- $order
        first=$1; shift
        order="$* $first"
        k=$((k + 1))
    done
    for job in $JOBS; do
        case $job in
        randread) args="--rw=randread --bs=4k --iodepth=32"; dir=read ;;
        randwrite) args="--rw=randwrite --bs=4k --iodepth=32"; dir=write ;;
        seqread) args="--rw=read --bs=128k --iodepth=32"; dir=read ;;
        randread1) args="--rw=randread --bs=4k --iodepth=1"; dir=read ;;
        esac
        for d in $order; do
            # the host's sampler (--cpu) takes its first reading now
            echo "BEGIN $rep $job $d"
            sleep 0.3
            i0=$(irqs "$(dev_of $d)")
            fio --name="$job" --filename="$(dev_of $d)" $args \
                --ioengine=libaio --direct=1 --time_based --runtime="$RT" \
                --output-format=json >/tmp/out.json 2>/tmp/err ||
                { cat /tmp/err; fail "fio $job on $d"; }
            echo "RESULT $rep $job $d $(parse $dir) $(($(irqs "$(dev_of $d)") - i0))"
        done
    done
    rep=$((rep + 1))
done
echo "BENCH: DONE"
GUEST

e2e_start_daemon $socks
# Which client libraries each side runs with (the daemon's from its maps).
libs_ours=$(grep -o '/[^ ]*/lib\(rbd\|nbd\)\.so[^ ]*' "/proc/$e2e_daemon_pid/maps" |
    sort -u | tr '\n' ' ')
libs_qemu="its own NBD client, no library"
[ -n "$nbd" ] || libs_qemu="none"
[ -n "$rbd" ] && libs_qemu=$(ls "$VFU_LAB"/sid/usr/lib/x86_64-linux-gnu/librbd.so.1.* | tr '\n' ' ')
e2e_say "$reps repetitions x $(echo $jobs | wc -w) jobs x $(echo $devices | wc -w) devices x $runtime s, images of $size MiB"
boot_socks=""
for sock in $socks; do
    boot_socks="$boot_socks --socket $sock"
done
e2e_boot $boot_socks "$e2e_tmp/guest.sh" -smp 2 -name bench,debug-threads=on \
    -drive "if=none,id=q0,file=$qemu_file,format=raw$qemu_cache" \
    -device "nvme,serial=QEMU-BENCH,drive=q0"

# Per fio run, the CPU time and the number of times each thread ran (its
# schedstat: time on CPU in ns, and timeslices, i.e. wake-ups plus
# preemptions) of QEMU (named threads: debug-threads=on), the daemon and
# the Ceph daemons, read when the guest says a run begins and when it has
# ended, and the messages QEMU sent each plugin device (vfiouserctl).
# Lines: "TAG|side|tid|pid|comm|ns|slices", TAG the guest's line.
snapshot() {
    for pp in $procs; do
        k=${pp%%:*}
        pid=${pp#*:}
        for t in /proc/$pid/task/*; do
            { read -r comm <"$t/comm" && read -r run _ n <"$t/schedstat"; } \
                2>/dev/null || continue
            echo "$1|$k|${t##*/}|$pid|$comm|$run|$n"
        done
    done
    for n in $plugdevs; do
        echo "$1|msg|$n|0|$n|$(msgs_in "$n")|0"
    done
}
msgs_in() {
    "$e2e_build/tools/vfiouserctl" -s "$e2e_tmp/control" status "$1" --json 2>/dev/null |
        tr -d ' \n' | sed -n 's/.*"totals":{[^}]*"messages_in":\([0-9]*\).*/\1/p'
}
sampler() {
    qpid=""
    n=0
    while [ -z "$qpid" ] && [ $n -lt 600 ]; do
        for f in /proc/[0-9]*/cmdline; do
            p=${f#/proc/}
            p=${p%/cmdline}
            case $(cat "/proc/$p/comm" 2>/dev/null) in
            ld-linux*|qemu-system*) ;;
            *) continue ;;
            esac
            grep -qaF -- "$e2e_tmp/" "$f" 2>/dev/null &&
                grep -qaF qemu-system-x86_64 "$f" && qpid=$p
        done
        n=$((n + 1))
        [ -n "$qpid" ] || sleep 0.2
    done
    procs="q:$qpid d:$e2e_daemon_pid"
    if [ -n "$rbd" ]; then
        [ -f "$ceph/run/osd.0.pid" ] && procs="$procs server:$(cat "$ceph/run/osd.0.pid")"
        [ -f "$ceph/run/mon.a.pid" ] && procs="$procs mon:$(cat "$ceph/run/mon.a.pid")"
    fi
    [ -n "$nbd" ] && procs="$procs server:$(cat "$e2e_tmp/nbdkit.pid")"
    cr=$(printf '\r')
    tail --pid="$e2e_run_pid" -n +1 -F "$e2e_tmp/console" 2>/dev/null |
        while IFS= read -r line; do
            line=${line%"$cr"}
            case $line in
            "BEGIN "*|"RESULT "*) snapshot "$line" ;;
            esac
        done >"$e2e_tmp/cpu"
}
plugdevs=""
for d in $devices; do
    case $d in shadow) plugdevs="$plugdevs sh0" ;; adaptive) plugdevs="$plugdevs ad0" ;;
    poll) plugdevs="$plugdevs po0" ;; esac
done
sampler &
sampler_pid=$!
e2e_wait_guest
wait "$sampler_pid"
e2e_console_has "BENCH: DONE"

# Daemon CPU time (ns) of the threads whose name starts with $1.
thread_cpu() {
    t=0
    for task in /proc/$e2e_daemon_pid/task/*; do
        case $(cat "$task/comm" 2>/dev/null) in
        "$1"*) t=$((t + $(cut -d' ' -f1 "$task/schedstat"))) ;;
        esac
    done
    echo $t
}
cpu_sh0=$(thread_cpu sh0)
cpu_ad0=$(thread_cpu ad0)
cpu_po0=$(thread_cpu po0)
cpu_all=$(thread_cpu "")
# Messages QEMU sent each device over the whole run (vfiouserctl status):
# once the guest's driver is set up, nearly all are doorbell writes.
msg_sh0=$(msgs_in sh0)
msg_ad0=$(msgs_in ad0)
msg_po0=$(msgs_in po0)
e2e_stop_daemon $socks

tr -d '\r' <"$e2e_tmp/console" | grep '^RESULT ' >"$e2e_tmp/results"
echo
echo "# vfiouserd NVMe vs QEMU's NVMe in the lab guest ($(uname -r) host," \
    "$(nproc) CPUs, guest kernel $(cat "$VFU_LAB/kver"), TCG unless VFU_LAB_KVM=1)"
[ -n "$nbd" ] && echo "# every device on one NBD export: nbdkit file plugin, UNIX socket"
[ -n "$rbd" ] && echo "# every device on one RBD image (one-node Ceph $(ceph-osd --version |
    cut -d' ' -f3) cluster on this host); QEMU's NVMe through its rbd driver"
echo "# fio, libaio, O_DIRECT, iodepth 32 (randread1: 1), $runtime s per run, $reps repetitions," \
    "devices alternating; figures are medians [min-max]; ratio = our IOPS /" \
    "QEMU's in the same repetition (paired), its median [min-max]"
echo "# client libraries: ours $libs_ours; QEMU $libs_qemu"
echo "# $cache_note"
# Both tables' awk programs: the median of the cnt[k] values val[k, i].
awk_median='
    function median(k,   n, i, j, t, v) {
        n = cnt[k]
        for (i = 1; i <= n; i++) v[i] = val[k, i]
        for (i = 1; i <= n; i++)
            for (j = i + 1; j <= n; j++)
                if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }'
awk -v joblist="$jobs" -v devlist="$devices" \
    -v cpu_sh="$cpu_sh0" -v cpu_ad="$cpu_ad0" -v cpu_po="$cpu_po0" -v cpu_all="$cpu_all" \
    -v msg_sh="${msg_sh0:-0}" -v msg_ad="${msg_ad0:-0}" -v msg_po="${msg_po0:-0}" "$awk_median"'
    function add(k, x) { val[k, ++cnt[k]] = x }
    function lo(k,   i, m) {
        m = val[k, 1]
        for (i = 2; i <= cnt[k]; i++) if (val[k, i] < m) m = val[k, i]
        return m
    }
    function hi(k,   i, m) {
        m = val[k, 1]
        for (i = 2; i <= cnt[k]; i++) if (val[k, i] > m) m = val[k, i]
        return m
    }
    {
        add($3 SUBSEP $4 SUBSEP "iops", $5)
        per[$3, $4, $2] = $5
        if ($2 + 0 > nrep) nrep = $2 + 0
        add($3 SUBSEP $4 SUBSEP "lat", $6)
        add($3 SUBSEP $4 SUBSEP "p99", $7)
        add($3 SUBSEP $4 SUBSEP "irq", $8 ? $9 / $8 : 0)
        ios[$4] += $8
    }
    END {
        printf "%-10s %-8s %6s %-13s %8s %9s %7s %5s %-11s\n", "job", "device",
               "IOPS", "[min-max]", "clat us", "p99 us", "irqs/IO", "ratio",
               "[min-max]"
        nj = split(joblist, jobs, " ")
        nd = split(devlist, devs, " ")
        for (j = 1; j <= nj; j++) {
            for (d = 1; d <= nd; d++) {
                k = jobs[j] SUBSEP devs[d]
                for (r = 1; r <= nrep; r++)
                    if (devs[d] != "qemu" && per[jobs[j], "qemu", r] > 0 &&
                        (jobs[j], devs[d], r) in per)
                        add(k SUBSEP "ratio",
                            per[jobs[j], devs[d], r] / per[jobs[j], "qemu", r])
                rk = k SUBSEP "ratio"
                printf "%-10s %-8s %6d %-13s %8.1f %9.1f %7.2f %5s %-11s\n",
                       jobs[j], devs[d], median(k SUBSEP "iops"),
                       sprintf("[%d-%d]", lo(k SUBSEP "iops"), hi(k SUBSEP "iops")),
                       median(k SUBSEP "lat"), median(k SUBSEP "p99"),
                       median(k SUBSEP "irq"),
                       cnt[rk] ? sprintf("%.2f", median(rk)) : "",
                       cnt[rk] ? sprintf("[%.2f-%.2f]", lo(rk), hi(rk)) : ""
                if (devs[d] != "qemu" && cnt[rk]) {
                    m = median(rk)
                    word = "MISSED"
                    if (m >= 1.0) word = "met (median)"
                    if (lo(rk) >= 1.0) word = "met in every repetition"
                    verdict = verdict sprintf("#   %-9s %-8s %.2f [%.2f-%.2f] %s\n",
                        jobs[j], devs[d], m, lo(rk), hi(rk), word)
                }
            }
        }
        printf "\n# target: our IOPS >= 1.00 x QEMU for every job, every mode " \
               "(median of the paired ratios [min-max])\n%s",
               verdict
        printf "# daemon CPU per I/O over the whole run: shadow %.1f us " \
               "(%d I/Os), adaptive %.1f us (%d I/Os), poll %.1f us (%d I/Os; " \
               "its poller also runs while the other devices work)\n",
               ios["shadow"] ? cpu_sh / 1000 / ios["shadow"] : 0, ios["shadow"],
               ios["adaptive"] ? cpu_ad / 1000 / ios["adaptive"] : 0, ios["adaptive"],
               ios["poll"] ? cpu_po / 1000 / ios["poll"] : 0, ios["poll"]
        n = ios["shadow"] + ios["adaptive"] + ios["poll"]
        printf "# the whole daemon (every thread, client libraries included): " \
               "%.1f us per I/O of its devices\n", n ? cpu_all / 1000 / n : 0
        printf "# messages from QEMU per I/O (doorbells, mostly): shadow %.2f, " \
               "adaptive %.2f, poll %.2f\n",
               ios["shadow"] ? msg_sh / ios["shadow"] : 0,
               ios["adaptive"] ? msg_ad / ios["adaptive"] : 0,
               ios["poll"] ? msg_po / ios["poll"] : 0
    }
' "$e2e_tmp/results"

# Per run, from the sampler's readings: CPU time per I/O (us) and runs
# (wake-ups and preemptions) per I/O of each side, medians over the
# repetitions.  Threads: ours "d.io" (the device's I/O thread), "d.dev"
# (its device thread), "d.lib" (the rest: librados', the main thread);
# QEMU "q.main" (its main loop: its NVMe, its block layer, the vfio-user
# client's interrupts), "q.lib" (librados', librbd's and any other thread
# not a vCPU), "q.vcpu" (the guest's CPUs); "server" the Ceph OSD or
# nbdkit, "mon" the Ceph monitor.
[ -s "$e2e_tmp/cpu" ] || exit 0
echo
echo "# CPU per I/O by thread group in us [runs per I/O], medians over the" \
    "repetitions; msgs: vfio-user messages from QEMU per I/O"
awk -F'|' -v joblist="$jobs" -v devlist="$devices" "$awk_median"'
    function group(side, tid, pid, comm) {
        if (side == "d")
            return comm ~ /-io$/ ? "d.io" : comm ~ /^(sh0|ad0|po0)$/ ? "d.dev" : "d.lib"
        if (side == "q")
            return comm ~ /^CPU / ? "q.vcpu" : tid == pid ? "q.main" : "q.lib"
        return side
    }
    {
        split($1, w, " ")
        key = w[2] SUBSEP w[3] SUBSEP w[4]
        g = group($2, $3, $4, $5)
        id = $2 SUBSEP $3
        if (w[1] == "BEGIN") {
            b_ns[key, id] = $6
            b_n[key, id] = $7
            next
        }
        ios[key] = w[8]
        if (!((key, id) in b_ns)) next
        ns[key, g] += $6 - b_ns[key, id]
        sl[key, g] += $7 - b_n[key, id]
        seen[key] = 1
    }
    END {
        nh = split("ours d.io d.dev d.lib q.main q.lib q.vcpu server mon", hs, " ")
        for (key in seen) {
            split(key, w, SUBSEP)
            if (ios[key] <= 0) continue
            for (i = 1; i <= nh; i++) {
                g = hs[i]
                if (g == "ours") {
                    t = ns[key, "d.io"] + ns[key, "d.dev"] + ns[key, "d.lib"]
                    n = sl[key, "d.io"] + sl[key, "d.dev"] + sl[key, "d.lib"]
                } else {
                    t = ns[key, g]
                    n = sl[key, g]
                }
                k = w[2] SUBSEP w[3] SUBSEP g
                val[k, ++cnt[k]] = t / 1000 / ios[key]
                val[k "n", ++cnt[k "n"]] = n / ios[key]
            }
            k = w[2] SUBSEP w[3] SUBSEP "msg"
            val[k, ++cnt[k]] = ns[key, "msg"] / ios[key]
        }
        printf "%-9s %-7s", "job", "device"
        for (i = 1; i <= nh; i++) printf " %-12s", hs[i]
        printf " %5s\n", "msgs"
        nj = split(joblist, jobs, " ")
        nd = split(devlist, devs, " ")
        for (j = 1; j <= nj; j++)
            for (d = 1; d <= nd; d++) {
                printf "%-9s %-7s", jobs[j], devs[d]
                for (i = 1; i <= nh; i++) {
                    k = jobs[j] SUBSEP devs[d] SUBSEP hs[i]
                    printf " %-12s", cnt[k] ? sprintf("%.1f[%.2f]", median(k), median(k "n")) : "-"
                }
                k = jobs[j] SUBSEP devs[d] SUBSEP "msg"
                printf " %5s\n", cnt[k] && devs[d] != "qemu" ? sprintf("%.2f", median(k)) : "-"
            }
    }
' "$e2e_tmp/cpu"
