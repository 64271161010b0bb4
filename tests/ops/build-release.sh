#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Build the daemon and the gpio plugin of an earlier commit, for the
# version-skew upgrade test (test_upgrade_skew):
#   build-release.sh SRCDIR COMMIT OUTDIR
# The tree comes out of git history (git archive: the repository and its
# worktrees are left alone) and is built with the fewest options, only the
# two targets.  OUTDIR/daemon/vfiouserd and OUTDIR/plugins/.libs/gpio.so are
# kept between runs.  Exits 77, saying why, when it cannot be done here
# (no git, not a git checkout, the commit unknown).
set -u
src=$1
commit=$2
out=$3

skip() {
    echo "SKIP: build-release: $*"
    exit 77
}

if [ -x "$out/daemon/vfiouserd" ] && [ -f "$out/plugins/.libs/gpio.so" ]; then
    echo "build-release: $commit already built in $out"
    exit 0
fi
command -v git >/dev/null || skip "no git to take commit $commit from"
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 ||
    skip "$src is not a git checkout (a release tarball has no history)"
git -C "$src" cat-file -e "$commit^{commit}" 2>/dev/null ||
    skip "commit $commit is not in this repository's history (shallow clone?)"
rm -rf "$out"
mkdir -p "$out" || exit 1
git -C "$src" archive --format=tar "$commit" | tar -x -C "$out" || exit 1
cd "$out" || exit 1
start=$(date +%s)
{
    ./autogen.sh &&
        ./configure --disable-nvme --disable-python --without-libnbd --without-rbd \
            --disable-seccomp &&
        make -j2 daemon/vfiouserd plugins/gpio.la
} >build.log 2>&1 || {
    tail -30 build.log
    echo "build-release: building $commit failed (log: $out/build.log)"
    exit 1
}
echo "build-release: built $commit in $(($(date +%s) - start)) s"
