# Shared part of the NVMe end-to-end tests (sourced by tests/nvme/*.test):
# the lab guest binds Linux's nvme driver to the plugin through the real
# daemon and QEMU's vfio-user-pci, then runs fio with verification, discard,
# flush, Format NVM and a shutdown.  Needs tests/e2e/lib.sh and the QEMU
# lab; skips (77) without them.
#
#   nvme_e2e_run MODE [lab run options...]
#     MODE: shadow (default doorbells), poll, messages (no shared memory)
nvme_e2e_lib=$(dirname "$0")/../e2e/lib.sh
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
while [ ! -b /dev/nvme0n2 ] && [ $i -lt 150 ]; do sleep 0.2; i=$((i + 1)); done
DEV=; NULLDEV=
for d in /sys/block/nvme0n*; do
    case $(cat "$d/nsid") in
    1) DEV=/dev/${d##*/} ;;
    2) NULLDEV=/dev/${d##*/} ;;
    esac
done
[ -n "$DEV" ] && [ -n "$NULLDEV" ] || fail "namespaces missing"
dmesg | grep -i nvme
grep nvme /proc/interrupts
nvme id-ctrl /dev/nvme0 | grep -q '^mn *: vfiouserd NVMe' || fail "identify"
[ "$(cat /sys/block/${DEV#/dev/}/queue/max_hw_sectors_kb)" = 128 ] || fail "MDTS"
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
nvme reset /dev/nvme0 || fail "nvme reset"
sleep 2
echo 1 >/sys/class/nvme/nvme0/reset_controller || fail "reset_controller"
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
nvme smart-log /dev/nvme0 | grep -E 'data_units_written|host_write_commands'
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
# written with O_DIRECT just before power-off: the controller's shutdown
# must make it durable (the host checks the backing file)
yes 'vfiouserd nvme e2e pattern 0123456789abcdef' | head -c 4194304 >/tmp/p
dd if=/tmp/p of="$DEV" bs=1M seek=200 oflag=direct 2>/dev/null || fail "dd pattern"
dmesg | grep -iE 'nvme.*(error|timeout|abort)' && fail "driver complained"
echo "NVME-E2E: PASS"
GUEST
}

nvme_e2e_run() {
    mode=$1
    shift
    e2e_setup
    sock=$e2e_tmp/nvme0.sock
    img=$e2e_tmp/disk.img
    doorbells=shadow
    [ "$mode" = poll ] && doorbells=poll
    cat >"$e2e_tmp/vfiouserd.conf" <<EOF
[daemon]
socket-dir = $e2e_tmp
log-level = debug

[nvme0]
plugin = nvme
queues = 4
doorbells = $doorbells
namespace.1.path = $img
namespace.1.size = 256M
namespace.2.backend = null
namespace.2.size = 1G
EOF
    nvme_e2e_guest_script >"$e2e_tmp/guest.sh"
    e2e_start_daemon "$sock"
    if [ "$mode" = messages ]; then
        mem=512
        e2e_boot --no-share --mem "$mem" --socket "$sock" "$e2e_tmp/guest.sh" \
            -smp 2 -object "memory-backend-ram,id=vfu-e2e-ram,size=${mem}M" \
            -machine memory-backend=vfu-e2e-ram
    else
        e2e_boot --socket "$sock" "$e2e_tmp/guest.sh" -smp 2
    fi
    e2e_wait_guest
    e2e_console_has "NVME-E2E: PASS"
    e2e_log_has "nvme: shutdown complete"
    if [ "$mode" = messages ]; then
        e2e_log_has ! "DMA_MAP .* mmapped$"
    fi
    e2e_stop_daemon "$sock"
    nvme_e2e_pattern >"$e2e_tmp/pattern.expect"
    dd if="$img" of="$e2e_tmp/pattern.got" bs=1M skip=200 count=4 2>/dev/null
    cmp -s "$e2e_tmp/pattern.expect" "$e2e_tmp/pattern.got" ||
        e2e_fail "the last write before shutdown is not in the backing file"
    e2e_say "backing file holds the last write"
}
