# SPDX-License-Identifier: BSD-3-Clause
# Shared part of the guest-memory matrix (sourced by tests/e2e/memory-*.test):
# one lab boot per kind of guest RAM QEMU can have, with testdev's DMA engine
# and an NVMe controller in one daemon.  In the guest: vfu-testdev's DMA
# checks, then fio 4 KiB random writes with verification on the NVMe
# namespace and a short random read for an IOPS figure.  On the host: how
# the daemon reached guest memory.  The rule is that every kind either runs
# with the memory mapped, runs by DMA messages, or refuses: never wrong data.
#
#   memory_e2e_run KIND EXPECT [HOW]
#     KIND: ram, memfd, memfd-private, file, file-private (tests/e2e/lab/run)
#     HOW: maps     the daemon judges a window from QEMU's /proc/PID/maps
#                   (default: it runs as root here, so it may read them)
#          content  VFIOUSERD_PEER_MAPS=no: by comparing what QEMU answers
#                   by DMA_READ with the file (what a daemon that may not
#                   read QEMU's maps does)
#     EXPECT: mapped   the daemon checked the mapping and uses it
#             messages QEMU sent no fd: DMA messages, no check
#             private  the fd came, the mapping differs from the guest's
#                      memory: DMA messages and one warning per device
memory_e2e_lib=$(dirname "$0")/lib.sh
. "$memory_e2e_lib"

memory_e2e_guest_script() {
    cat <<GUEST
set -u
fail() { echo "MEM-E2E: FAIL: \$*"; dmesg | tail -20; exit 1; }
vfu-testdev --magic $1 dma || fail "testdev DMA"
modprobe nvme || fail "modprobe nvme"
i=0
while [ ! -b /dev/nvme0n1 ] && [ \$i -lt 150 ]; do sleep 0.2; i=\$((i + 1)); done
[ -b /dev/nvme0n1 ] || fail "no /dev/nvme0n1"
fio --name=verify --filename=/dev/nvme0n1 --rw=randwrite --bs=4k --size=8M \\
    --iodepth=16 --ioengine=libaio --direct=1 --verify=crc32c --do_verify=1 \\
    --verify_fatal=1 >/tmp/f1 2>&1
grep -q 'err= 0' /tmp/f1 || { cat /tmp/f1; fail "fio write + verify"; }
echo "MEM-E2E: verify \$(grep -E '(read|write): IOPS=' /tmp/f1 | tr -s ' ' | tr '\n' ' ')"
fio --name=iops --filename=/dev/nvme0n1 --rw=randread --bs=4k --iodepth=16 \\
    --ioengine=libaio --direct=1 --runtime=3 --time_based >/tmp/f2 2>&1
grep -q 'err= 0' /tmp/f2 || { cat /tmp/f2; fail "fio random read"; }
echo "MEM-E2E: randread \$(grep -E 'read: IOPS=' /tmp/f2 | tr -s ' ')"
dmesg | grep -iE 'nvme.*(error|timeout|abort)' && fail "the nvme driver complained"
echo "MEM-E2E: PASS"
GUEST
}

memory_e2e_run() {
    kind=$1
    expect=$2
    how=${3:-maps}
    e2e_setup vfu-testdev
    if [ "$how" = content ]; then
        VFIOUSERD_PEER_MAPS=no
        export VFIOUSERD_PEER_MAPS
    fi
    sock=$e2e_tmp/td0.sock
    nsock=$e2e_tmp/nvme0.sock
    magic=0x5e1f7e57c0ffee03
    cat >"$e2e_tmp/vfiouserd.conf" <<CONF
[daemon]
socket-dir = $e2e_tmp
log-level = debug

[td0]
plugin = testdev
magic = $magic

[nvme0]
plugin = nvme
serial = VFUD-MEM-E2E
queues = 2
namespace.1.path = $e2e_tmp/ns.img
namespace.1.size = 32M
CONF
    memory_e2e_guest_script "$magic" >"$e2e_tmp/guest.sh"
    e2e_start_daemon "$sock" "$nsock"
    e2e_boot --memory "$kind" --add "$e2e_build/tests/e2e/guest/vfu-testdev" \
        --socket "$sock" --socket "$nsock" "$e2e_tmp/guest.sh"
    e2e_wait_guest
    e2e_console_has "vfu-testdev: PASS"
    e2e_console_has "MEM-E2E: PASS"
    grep -a 'MEM-E2E: .*IOPS' "$e2e_tmp/console" | tr -d '\r' |
        sed "s/^.*MEM-E2E: /$e2e_name: $kind: /"
    warning="give the memory backend share=on"
    for d in td0 nvme0; do
        n=$(grep -c "\[$d\].*$warning" "$e2e_tmp/daemon.log")
        case $expect in
        mapped)
            [ "$n" = 0 ] || e2e_fail "$d: warned about private memory"
            if [ "$how" = content ]; then
                e2e_log_has "\[$d\].*the mapping shows the guest's memory; used directly"
            else
                e2e_log_has "\[$d\].*the client maps its file shared; used directly"
            fi
            e2e_log_has ! "\[$d\].*reached by messages"
            ;;
        messages)
            [ "$n" = 0 ] || e2e_fail "$d: warned about private memory"
            e2e_log_has "\[$d\].*DMA_MAP \[0x100000, 0x[0-9a-f]*) rw by messages$"
            e2e_log_has ! "\[$d\].*DMA_MAP .* mmapped$"
            ;;
        private)
            [ "$n" = 1 ] || e2e_fail "$d: $n warnings about private memory, expected 1"
            if [ "$how" = content ]; then
                e2e_log_has "\[$d\].*the client keeps a private copy; reached by messages"
            else
                e2e_log_has "\[$d\].*the client maps its file privately; reached by messages"
            fi
            e2e_log_has ! "\[$d\].*used directly"
            ;;
        esac
    done
    e2e_say "$kind: guest memory reached as expected ($expect, judged by $how)"
    e2e_stop_daemon "$sock" "$nsock"
}
