# SPDX-License-Identifier: BSD-3-Clause
# tests/bench: "make bench", the transport benchmark.  It prints figures and
# never fails on them, so it is not part of "make check"; check_PROGRAMS
# only makes "make check" compile it, so it keeps building.
#
#     make bench                      gpio; 5 x 1 s per case; same CPU, then split
#     make bench BENCH_ARGS="--device both --pin split -r 7 -s 2 -v"
#     make bench VFIOUSERD=/path/to/other/vfiouserd   (compare a build)
#     make bench BENCH_ARGS="--pin same --echo-uring"  (also an echo server
#                                     making one io_uring_enter per batch)
#     make bench BENCH_ARGS='--pin same --vs-keys "isolate = process"'
#                                     (a device in a process vs in a thread)
#     make bench BENCH_ARGS='--pin same,split --vs-env VFIOUSERD_URING=no'
#                                     (the poll path vs the io_uring turn)
#
# How to read the output: the comment at the top of bench_transport.c.
check_PROGRAMS += tests/bench/bench_transport tests/bench/bench_echo

tests_bench_bench_echo_SOURCES = tests/bench/bench_echo.c
# --uring needs liburing, which only the NVMe plugin requires.
if ENABLE_NVME
tests_bench_bench_echo_CPPFLAGS = $(AM_CPPFLAGS) -DBENCH_ECHO_URING
tests_bench_bench_echo_CFLAGS = $(AM_CFLAGS) $(LIBURING_CFLAGS)
tests_bench_bench_echo_LDADD = $(LIBURING_LIBS)
endif

tests_bench_bench_transport_SOURCES = tests/bench/bench_transport.c \
	tests/bench/bench_client.c tests/bench/bench_cpu.c \
	tests/bench/bench_report.c tests/bench/bench.h
tests_bench_bench_transport_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/common/client -I$(top_srcdir)/tests/common \
	-DBENCH_ECHO_PATH='"$(abs_top_builddir)/tests/bench/bench_echo"'
tests_bench_bench_transport_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_bench_bench_transport_LDADD = common/client/libvfuclient.la \
	tests/common/libharness.la $(GLIB_LIBS)

# No ".PHONY: bench": automake warns when .PHONY is declared both here and
# inside the "if HAVE_CHECK" of tests/client/local.mk; nothing makes a file
# named "bench" in the build directory.
BENCH_ARGS =
bench: tests/bench/bench_transport tests/bench/bench_echo daemon/vfiouserd \
		plugins/gpio.la plugins/testdev.la
	tests/bench/bench_transport $(BENCH_ARGS)

# "make bench-nvme": the NVMe plugin driven from the host by a client that
# behaves like SPDK's driver (data in many 2 MiB DMA windows, PRP lists,
# polled CQs, doorbells through the mmapped BAR; null back-end): 4 KiB
# random read/write at QD 1 and 32, 128 KiB sequential reads at QD 8; IOPS,
# latency, daemon CPU per I/O, against SPDK's figures.
# How to read it: the comment at the top of bench_nvme_host.c.
#
#     make bench-nvme BENCH_NVME_ARGS="-r 5 -s 2 --idle 10 --modes poll"
#     make bench-nvme BENCH_NVME_ARGS="--baseline /path/to/old/vfiouserd"
#     make bench-nvme BENCH_NVME_ARGS='-m shadow --keys "isolate = process" --baseline-keys ""'
#     (on a 256 MiB raw file through the page cache, writes only:)
#     make bench-nvme BENCH_NVME_ARGS="--file /var/tmp/ns.img --nbd-size 256 -w randwrite-qd1,randwrite-qd32"
if ENABLE_NVME
check_PROGRAMS += tests/bench/bench_nvme_host
tests_bench_bench_nvme_host_SOURCES = tests/bench/bench_nvme_host.c \
	tests/bench/bench_cpu.c tests/bench/bench.h
tests_bench_bench_nvme_host_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/common/client -I$(top_srcdir)/tests/common \
	-I$(top_srcdir)/tests/plugins/nvme
tests_bench_bench_nvme_host_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_bench_bench_nvme_host_LDADD = $(NVME_VFU_LDADD) \
	tests/common/libharness.la $(GLIB_LIBS)

BENCH_NVME_ARGS =
bench-nvme: tests/bench/bench_nvme_host daemon/vfiouserd plugins/nvme.la
	tests/bench/bench_nvme_host $(BENCH_NVME_ARGS)

# "make bench-nvme-nbd": the same with the namespace on an NBD export,
# nbdkit's memory plugin (1 GiB) on a UNIX socket.
bench-nvme-nbd: tests/bench/bench_nvme_host daemon/vfiouserd plugins/nvme.la
	@command -v nbdkit >/dev/null || { echo "bench-nvme-nbd: needs nbdkit"; exit 1; }
	d=$$(mktemp -d) && nbdkit -U $$d/sock -P $$d/pid memory size=1G && \
	tests/bench/bench_nvme_host --nbd "nbd+unix:///?socket=$$d/sock" \
		$(BENCH_NVME_ARGS); r=$$?; kill $$(cat $$d/pid); rm -rf $$d; exit $$r

# "make bench-nvme-rbd": the same on a 256 MiB RBD image of a one-node
# Ceph cluster (tests/plugins/nvme/ceph-cluster), then "rbd bench" on the same
# image, 4 KiB random reads and writes with 1 and 32 in flight: librbd
# alone, with no controller, for ratios within one run.  Nothing is pinned
# and the client sleeps 50 us when it finds no completion: the OSD and the
# monitor run on the same 2 CPUs, and a client spinning on one of them
# halved QD1 figures.  rbd bench's writes go to librbd's cache (it runs
# write-back), while the namespace stays write-through until the host's
# first Flush (rbd_cache_writethrough_until_flush), so rbd bench's writes
# are also run with the cache off, like for like.
bench-nvme-rbd: tests/bench/bench_nvme_host daemon/vfiouserd plugins/nvme.la
	@command -v ceph-osd >/dev/null || { echo "bench-nvme-rbd: needs ceph-mon ceph-osd"; exit 1; }
	d=/tmp/vfu-bench-ceph.$$$$ && \
	$(srcdir)/tests/plugins/nvme/ceph-cluster start $$d rbd bench 256 >/dev/null && \
	rbd -c $$d/ceph.conf bench --io-type write --io-size 4M --io-total 256M \
		--io-pattern seq rbd/bench >/dev/null && \
	tests/bench/bench_nvme_host --rbd rbd:rbd/bench --rbd-conf $$d/ceph.conf \
		--nbd-size 256 --no-pin --sleep-us 50 $(BENCH_NVME_ARGS); r=$$?; \
	for t in read write write-nocache; do for qd in 1 32; do \
		echo "# rbd bench rand$$t 4K io-threads $$qd:"; \
		rbd -c $$d/ceph.conf $$([ $$t = write-nocache ] && echo --rbd-cache=false) \
			bench --io-type $${t%-nocache} --io-size 4K --io-threads $$qd \
			--io-total 16M --io-pattern rand rbd/bench | tail -1; \
	done; done; \
	$(srcdir)/tests/plugins/nvme/ceph-cluster destroy $$d; exit $$r
endif

# "make bench-nvme-guest": in one boot of the QEMU lab, fio in the guest
# against the plugin (shadow and poll doorbells) and against QEMU's own
# NVMe device; prints IOPS, latency and the ratios.  Skips without the lab.
# See the comment at the top of bench-nvme-guest.sh.
#
#     make bench-nvme-guest BENCH_NVME_GUEST_ARGS="--runtime 20 --reps 5"
#     make bench-nvme-guest BENCH_NVME_GUEST_ARGS=--nbd    (all on one NBD export)
#     make bench-nvme-guest BENCH_NVME_GUEST_ARGS=--rbd    (all on one RBD image)
#     make bench-nvme-guest BENCH_NVME_GUEST_ARGS='--rbd --devices "qemu shadow"'
#         (one mode against QEMU's: about 4.5 minutes)
#     make bench-nvme-guest BENCH_NVME_GUEST_ARGS="--rbd --lab-libs"
#         (our daemon with the lab's librbd, the one QEMU uses)
#     make bench-nvme-guest BENCH_NVME_GUEST_ARGS="--nbd --nbd-conns 1"
if ENABLE_NVME
BENCH_NVME_GUEST_ARGS =
bench-nvme-guest: daemon/vfiouserd plugins/nvme.la
	srcdir=$(srcdir) $(SHELL) $(srcdir)/tests/bench/bench-nvme-guest.sh \
		$(BENCH_NVME_GUEST_ARGS)
endif
EXTRA_DIST += tests/bench/bench-nvme-guest.sh

# "make bench-python": region round trips per second of the python
# plugin's idio16.py against the C gpio plugin, the same card, in one
# daemon (see the comment at the top of bench_python.c).
#
#     make bench-python BENCH_PYTHON_ARGS="-r 7 -s 2"
if ENABLE_PYTHON
check_PROGRAMS += tests/bench/bench_python
tests_bench_bench_python_SOURCES = tests/bench/bench_python.c \
	tests/bench/bench_cpu.c tests/bench/bench.h
tests_bench_bench_python_CPPFLAGS = $(AM_CPPFLAGS) \
	-I$(top_srcdir)/common/client -I$(top_srcdir)/tests/common \
	-DPY_EXAMPLES='"$(abs_top_srcdir)/plugins/python/examples"'
tests_bench_bench_python_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_bench_bench_python_LDADD = common/client/libvfuclient.la \
	tests/common/libharness.la $(GLIB_LIBS)

BENCH_PYTHON_ARGS =
bench-python: tests/bench/bench_python daemon/vfiouserd plugins/gpio.la plugins/python.la
	tests/bench/bench_python $(BENCH_PYTHON_ARGS)
endif
