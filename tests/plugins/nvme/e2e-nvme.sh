# SPDX-License-Identifier: BSD-3-Clause
# Shared part of the NVMe end-to-end tests (sourced by tests/plugins/nvme/*.test):
# the lab guest binds Linux's nvme driver to the plugin through the real
# daemon and QEMU's vfio-user-pci, checks what nvme-cli reports against the
# configuration, then runs fio with verification, discard, flush,
# controller resets under load, Format NVM and a shutdown.  Needs
# tests/e2e/lib.sh and the QEMU lab; skips (77) without them.
#
# Two controllers in one daemon, both attached to the guest:
#   nvme0  4 queues; namespace 1: 256 MiB file (the mixed tests),
#          namespace 2: 1 GiB on the null back-end (Format NVM),
#          namespace 3: 64 MiB file, written and verified whole by fio
#          (4 KiB random writes, then 128 KiB sequential; 64 MiB so that
#          TCG gets through it in seconds)
#   nvme1  2 queues; namespace 1: 32 MiB file with 4 KiB blocks and no
#          volatile write cache, written and verified whole by fio at the
#          same time as nvme0's namespace 3
#
#   nvme_e2e_run MODE [lab run options...]
#     MODE: shadow (default doorbells), adaptive, poll, messages (no shared
#     memory)
nvme_e2e_lib=$(dirname "$0")/../../e2e/lib.sh
if [ ! -f "$nvme_e2e_lib" ]; then
    echo "SKIP: $(basename "$0"): no tests/e2e/lib.sh in this tree"
    exit 77
fi
. "$nvme_e2e_lib"

# A pattern both sides can produce: 4 MiB of a repeated line.
nvme_e2e_pattern() {
    yes 'vfiouserd nvme e2e pattern 0123456789abcdef' | head -c 4194304
}

nvme_e2e_guest_script() {
    cat <<'GUEST'
set -u
fail() { echo "NVME-E2E: FAIL: $*"; dmesg | grep -i nvme | tail -20; exit 1; }
modprobe nvme || fail "modprobe nvme"
i=0
while [ "$(ls /sys/block | grep -c '^nvme')" -lt 4 ] && [ $i -lt 150 ]; do
    sleep 0.2; i=$((i + 1))
done
# Controllers by serial, namespaces by controller and NSID: probe order
# decides the names.
C0=; C1=
for c in /sys/class/nvme/nvme*; do
    case $(cat "$c/serial") in
    VFUD-E2E-0*) C0=/dev/${c##*/} ;;
    VFUD-E2E-1*) C1=/dev/${c##*/} ;;
    esac
done
[ -n "$C0" ] && [ -n "$C1" ] || fail "controllers missing"
ns() {
    for b in /sys/block/nvme*n*; do
        if [ "/dev/$(basename "$(readlink "$b/device")")" = "$1" ] &&
            [ "$(cat "$b/nsid")" = "$2" ]; then
            echo "/dev/${b##*/}"
            return
        fi
    done
}
DEV=$(ns "$C0" 1); NULLDEV=$(ns "$C0" 2); WHOLE=$(ns "$C0" 3); DEV1=$(ns "$C1" 1)
[ -n "$DEV" ] && [ -n "$NULLDEV" ] && [ -n "$WHOLE" ] && [ -n "$DEV1" ] ||
    fail "namespaces missing"
echo "nvme0 is $C0 ($DEV $NULLDEV $WHOLE), nvme1 is $C1 ($DEV1)"
dmesg | grep -i nvme
grep nvme /proc/interrupts

# ---- what nvme-cli reports agrees with the configuration ----
nvme list
# one line per namespace: serial nsid bytes block-size firmware model
nvme list -o json | awk -F'"' '
    /"NameSpace"/ { split($3, a, /[:,]/); n = a[2] }
    /"Firmware"/ { fw = $4 }
    /"ModelNumber"/ { mn = $4 }
    /"SerialNumber"/ { sn = $4 }
    /"PhysicalSize"/ { split($3, a, /[:,]/); sz = a[2] }
    /"SectorSize"/ { split($3, a, /[:,]/); print sn, n, sz, a[2], fw, mn }
    ' | sort >/tmp/list
{
    echo "VFUD-E2E-0 1 268435456 512 E2E1.0 vfiouserd e2e nvme0"
    echo "VFUD-E2E-0 2 1073741824 512 E2E1.0 vfiouserd e2e nvme0"
    echo "VFUD-E2E-0 3 67108864 512 E2E1.0 vfiouserd e2e nvme0"
    echo "VFUD-E2E-1 1 33554432 4096 E2E2.0 vfiouserd e2e nvme1"
} >/tmp/list.expect
cmp -s /tmp/list /tmp/list.expect || {
    cat /tmp/list; fail "nvme list differs from the configuration"; }
idc() { nvme id-ctrl "$1" | sed -n "s/^$2 *: *//p" | sed 's/ *$//'; }
[ "$(idc "$C0" sn)" = VFUD-E2E-0 ] || fail "id-ctrl sn"
[ "$(idc "$C0" mn)" = "vfiouserd e2e nvme0" ] || fail "id-ctrl mn"
[ "$(idc "$C0" fr)" = E2E1.0 ] || fail "id-ctrl fr"
[ "$(idc "$C1" sn)" = VFUD-E2E-1 ] || fail "id-ctrl sn of nvme1"
[ "$(idc "$C0" nn)" = 3 ] || fail "id-ctrl nn of nvme0"
[ "$(idc "$C1" nn)" = 1 ] || fail "id-ctrl nn of nvme1"
[ "$(idc "$C0" mdts)" = 5 ] || fail "id-ctrl mdts"
[ $(($(idc "$C0" vwc) & 1)) = 1 ] || fail "nvme0 must report a volatile write cache"
[ $(($(idc "$C1" vwc) & 1)) = 0 ] || fail "nvme1 must report no volatile write cache"
[ "$(cat /sys/block/${DEV#/dev/}/queue/max_hw_sectors_kb)" = 128 ] || fail "MDTS"
idns() { nvme id-ns "$1" | sed -n "s/^$2 *: *//p" | sed 's/ *$//'; }
[ "$(idns "$DEV" nsze)" = 0x80000 ] || fail "id-ns nsze of nvme0 namespace 1"
[ "$(idns "$WHOLE" nsze)" = 0x20000 ] || fail "id-ns nsze of nvme0 namespace 3"
[ "$(idns "$DEV1" nsze)" = 0x2000 ] || fail "id-ns nsze of nvme1 namespace 1"
nvme id-ns "$DEV" | grep -q 'lbads:9 .*(in use)' || fail "id-ns: 512-byte blocks"
nvme id-ns "$DEV1" | grep -q 'lbads:12 .*(in use)' || fail "id-ns: 4 KiB blocks"
feat() { nvme get-feature "$1" -f "$2" | sed -n 's/.*Current value: *//p'; }
[ "$(feat "$C0" 6)" = 0x00000001 ] || fail "get-feature: volatile write cache on"
[ "$(feat "$C0" 7)" = 0x00030003 ] || fail "get-feature: 4 queues on nvme0"
[ "$(feat "$C1" 7)" = 0x00010001 ] || fail "get-feature: 2 queues on nvme1"
nvme flush "$DEV" | grep -q success || fail "nvme flush"
nvme flush "$DEV1" | grep -q success || fail "nvme flush without a volatile cache"
smart() { nvme smart-log "$1" | sed -n "s/^$2[^:]*: *\([0-9]*\).*/\1/p"; }
w0=$(smart "$C0" host_write_commands)

# ---- both controllers at once: whole namespaces written and verified ----
fio --name=whole1 --filename="$DEV1" --rw=randwrite --bs=4k --iodepth=16 \
    --ioengine=libaio --direct=1 --verify=crc32c --do_verify=1 \
    --verify_fatal=1 >/tmp/fio6 2>&1 &
f1=$!
fio --name=rand4k --filename="$WHOLE" --rw=randwrite --bs=4k --iodepth=32 \
    --ioengine=libaio --direct=1 --verify=crc32c --do_verify=1 \
    --verify_fatal=1 >/tmp/fio5 2>&1
grep -q 'err= 0' /tmp/fio5 ||
    { cat /tmp/fio5; fail "fio 4 KiB random write + verify of a whole namespace"; }
grep -E 'READ:|WRITE:' /tmp/fio5
wait $f1
grep -q 'err= 0' /tmp/fio6 ||
    { cat /tmp/fio6; fail "fio write + verify of nvme1's namespace"; }
grep -E 'READ:|WRITE:' /tmp/fio6
fio --name=seq128k --filename="$WHOLE" --rw=write --bs=128k --iodepth=8 \
    --ioengine=libaio --direct=1 --verify=crc32c --do_verify=1 \
    --verify_fatal=1 >/tmp/fio7 2>&1
grep -q 'err= 0' /tmp/fio7 ||
    { cat /tmp/fio7; fail "fio 128 KiB write + verify of a whole namespace"; }
grep -E 'READ:|WRITE:' /tmp/fio7
w1=$(smart "$C0" host_write_commands)
[ "$w1" -ge $((w0 + 16384 + 512)) ] ||
    fail "smart-log counted $w0 -> $w1 write commands"

# ---- mixed sizes on every queue ----
JOBS=$(nproc)
fio --name=mix --filename="$DEV" --rw=randrw --bsrange=512-256k --size=16M \
    --iodepth=32 --ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 \
    --numjobs="$JOBS" --offset_increment=16M --group_reporting >/tmp/fio1 2>&1
grep -q 'err= 0' /tmp/fio1 || { cat /tmp/fio1; fail "fio randrw verify"; }
grep -E 'READ:|WRITE:' /tmp/fio1
# controller resets (CC.EN=0 with commands in flight) under a verifying load
fio --name=resets --filename="$DEV" --offset=128M --rw=randrw --bsrange=4k-128k \
    --size=16M --iodepth=32 --ioengine=libaio --direct=1 --verify=crc32c \
    --verify_fatal=1 --time_based --runtime=8 >/tmp/fio4 2>&1 &
fpid=$!
sleep 2
nvme reset "$C0" || fail "nvme reset"
sleep 2
echo 1 >/sys/class/nvme/${C0#/dev/}/reset_controller || fail "reset_controller"
wait $fpid
grep -q 'err= 0' /tmp/fio4 || { cat /tmp/fio4; fail "fio across controller resets"; }
# buffered writes (large folios: SGLs) with fsync (Flush)
fio --name=buffered --filename="$DEV" --offset=64M --rw=write --bs=1M --size=8M \
    --ioengine=psync --fsync=2 --verify=md5 --verify_fatal=1 >/tmp/fio2 2>&1
grep -q 'err= 0' /tmp/fio2 || { cat /tmp/fio2; fail "fio buffered verify"; }
# discard (Dataset Management) reads back as zeroes, its neighbours survive
dd if=/dev/urandom of=/tmp/r bs=1M count=4 2>/dev/null
dd if=/tmp/r of="$DEV" bs=1M seek=100 oflag=direct 2>/dev/null || fail "dd"
blkdiscard -o $((100 << 20)) -l $((2 << 20)) "$DEV" || fail "blkdiscard"
a=$(dd if="$DEV" bs=1M skip=100 count=2 iflag=direct 2>/dev/null | md5sum)
z=$(dd if=/dev/zero bs=1M count=2 2>/dev/null | md5sum)
[ "$a" = "$z" ] || fail "discarded blocks are not zero"
a=$(dd if="$DEV" bs=1M skip=102 count=2 iflag=direct 2>/dev/null | md5sum)
b=$(dd if=/tmp/r bs=1M skip=2 count=2 2>/dev/null | md5sum)
[ "$a" = "$b" ] || fail "data next to the discarded range changed"
nvme smart-log "$C0" | grep -E 'data_units_written|host_write_commands'
# Format NVM on the null namespace: 4 KiB blocks
nvme format "$NULLDEV" --lbaf=1 --force >/dev/null || fail "format"
sleep 1
[ "$(cat /sys/block/${NULLDEV#/dev/}/queue/logical_block_size)" = 4096 ] ||
    fail "format did not change the block size"
fio --name=null --filename="$NULLDEV" --rw=randread --bs=4k --size=64M \
    --iodepth=32 --ioengine=libaio --direct=1 --runtime=2 --time_based \
    >/tmp/fio3 2>&1
grep -q 'err= 0' /tmp/fio3 || { cat /tmp/fio3; fail "fio on the null namespace"; }
grep -E 'IOPS' /tmp/fio3
# written with O_DIRECT just before power-off: the controllers' shutdown
# must make it durable (the host checks the backing files)
yes 'vfiouserd nvme e2e pattern 0123456789abcdef' | head -c 4194304 >/tmp/p
dd if=/tmp/p of="$DEV" bs=1M seek=200 oflag=direct 2>/dev/null || fail "dd pattern"
dd if=/tmp/p of="$DEV1" bs=1M seek=4 oflag=direct 2>/dev/null || fail "dd pattern 1"
dmesg | grep -iE 'nvme.*(error|timeout|abort)' && fail "driver complained"
echo "NVME-E2E: PASS"
GUEST
}

nvme_e2e_run() {
    mode=$1
    shift
    e2e_setup
    sock=$e2e_tmp/nvme0.sock
    sock1=$e2e_tmp/nvme1.sock
    img=$e2e_tmp/disk.img
    img1=$e2e_tmp/disk1.img
    doorbells=shadow
    [ "$mode" = poll ] && doorbells=poll
    [ "$mode" = adaptive ] && doorbells=adaptive
    cat >"$e2e_tmp/vfiouserd.conf" <<EOF
[daemon]
socket-dir = $e2e_tmp
log-level = debug
${VFU_E2E_DAEMON_KEYS:-}

[nvme0]
plugin = nvme
serial = VFUD-E2E-0
model = vfiouserd e2e nvme0
firmware = E2E1.0
queues = 4
doorbells = $doorbells
namespace.1.path = $img
namespace.1.size = 256M
namespace.2.backend = null
namespace.2.size = 1G
namespace.3.path = $e2e_tmp/whole.img
namespace.3.size = 64M

[nvme1]
plugin = nvme
serial = VFUD-E2E-1
model = vfiouserd e2e nvme1
firmware = E2E2.0
queues = 2
doorbells = $doorbells
namespace.1.path = $img1
namespace.1.size = 32M
namespace.1.block-size = 4096
namespace.1.write-cache = off
EOF
    nvme_e2e_guest_script >"$e2e_tmp/guest.sh"
    e2e_start_daemon "$sock" "$sock1"
    if [ "$mode" = messages ]; then
        mem=512
        e2e_boot --no-share --mem "$mem" --socket "$sock" --socket "$sock1" \
            "$e2e_tmp/guest.sh" \
            -smp 2 -object "memory-backend-ram,id=vfu-e2e-ram,size=${mem}M" \
            -machine memory-backend=vfu-e2e-ram
    else
        e2e_boot --socket "$sock" --socket "$sock1" "$e2e_tmp/guest.sh" -smp 2
    fi
    e2e_wait_guest
    e2e_console_has "NVME-E2E: PASS"
    e2e_log_has "\[nvme0\].*nvme: shutdown complete"
    e2e_log_has "\[nvme1\].*nvme: shutdown complete"
    if [ "$mode" = messages ]; then
        e2e_log_has ! "DMA_MAP .* mmapped$"
    fi
    e2e_stop_daemon "$sock" "$sock1"
    nvme_e2e_pattern >"$e2e_tmp/pattern.expect"
    dd if="$img" of="$e2e_tmp/pattern.got" bs=1M skip=200 count=4 2>/dev/null
    cmp -s "$e2e_tmp/pattern.expect" "$e2e_tmp/pattern.got" ||
        e2e_fail "the last write before shutdown is not in nvme0's backing file"
    dd if="$img1" of="$e2e_tmp/pattern.got" bs=1M skip=4 count=4 2>/dev/null
    cmp -s "$e2e_tmp/pattern.expect" "$e2e_tmp/pattern.got" ||
        e2e_fail "the last write before shutdown is not in nvme1's backing file"
    e2e_say "backing files hold the last writes"
}
