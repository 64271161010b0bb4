# SPDX-License-Identifier: BSD-3-Clause
# Tests of the NVMe plugin.
#
# The test driver (nvme_tdrv.h) plays the guest; its NVMe logic is
# transport-independent.  It reaches the plugin either loaded into the fake
# daemon (nvme_tdrv_fake.c: test_nvme_ctrl, test_nvme_io, bench_nvme) or
# through the real daemon over vfio-user with the client library
# (nvme_tdrv_vfu.c: test_nvme_daemon, and tests/bench's bench_nvme_host).
if ENABLE_NVME
check_LTLIBRARIES += tests/plugins/nvme/libnvmetdrv.la tests/plugins/nvme/libnvmetdrv_vfu.la
tests_plugins_nvme_libnvmetdrv_la_SOURCES = tests/plugins/nvme/nvme_tdrv.c tests/plugins/nvme/nvme_tdrv.h
tests_plugins_nvme_libnvmetdrv_vfu_la_SOURCES = tests/plugins/nvme/nvme_tdrv_vfu.c \
	tests/plugins/nvme/nvme_tdrv_vfu.h
tests_plugins_nvme_libnvmetdrv_vfu_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/common/client
# what a program driving the real daemon links
NVME_VFU_LDADD = tests/plugins/nvme/libnvmetdrv_vfu.la tests/plugins/nvme/libnvmetdrv.la \
	common/client/libvfuclient.la
endif

if HAVE_CHECK
if ENABLE_NVME
NVME_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(FAKE_VFUD_CFLAGS) \
	-DNVME_PLUGIN_SO='"$(abs_top_builddir)/plugins/.libs/nvme.so"'
NVME_TEST_LDADD = tests/plugins/nvme/libnvmetdrv_fake.la tests/plugins/nvme/libnvmetdrv.la \
	$(FAKE_VFUD_LIBS) $(CHECK_LIBS)
NVME_TEST_LINKFLAGS = $(AM_LDFLAGS) $(FAKE_VFUD_LINKFLAGS)

check_LTLIBRARIES += tests/plugins/nvme/libnvmetdrv_fake.la
tests_plugins_nvme_libnvmetdrv_fake_la_SOURCES = tests/plugins/nvme/nvme_tdrv_fake.c \
	tests/plugins/nvme/nvme_tdrv_fake.h
tests_plugins_nvme_libnvmetdrv_fake_la_CFLAGS = $(NVME_TEST_CFLAGS)

# The hand-over of completions from other threads (plugins/nvme/remote.c),
# built from its source alone.
check_PROGRAMS += tests/plugins/nvme/test_nvme_remote
TESTS += tests/plugins/nvme/test_nvme_remote
tests_plugins_nvme_test_nvme_remote_SOURCES = tests/plugins/nvme/test_nvme_remote.c \
	plugins/nvme/remote.c plugins/nvme/remote.h
tests_plugins_nvme_test_nvme_remote_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/nvme
tests_plugins_nvme_test_nvme_remote_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_plugins_nvme_test_nvme_remote_LDADD = $(CHECK_LIBS) -lpthread

check_PROGRAMS += tests/plugins/nvme/test_nvme_ctrl tests/plugins/nvme/test_nvme_io \
	tests/plugins/nvme/test_nvme_daemon \
	tests/plugins/nvme/bench_nvme
TESTS += tests/plugins/nvme/test_nvme_ctrl tests/plugins/nvme/test_nvme_io \
	tests/plugins/nvme/test_nvme_daemon

tests_plugins_nvme_test_nvme_ctrl_SOURCES = tests/plugins/nvme/test_nvme_ctrl.c
tests_plugins_nvme_test_nvme_ctrl_CFLAGS = $(NVME_TEST_CFLAGS)
tests_plugins_nvme_test_nvme_ctrl_LDADD = $(NVME_TEST_LDADD)
tests_plugins_nvme_test_nvme_ctrl_LDFLAGS = $(NVME_TEST_LINKFLAGS)

tests_plugins_nvme_test_nvme_io_SOURCES = tests/plugins/nvme/test_nvme_io.c
tests_plugins_nvme_test_nvme_io_CFLAGS = $(NVME_TEST_CFLAGS)
tests_plugins_nvme_test_nvme_io_LDADD = $(NVME_TEST_LDADD)
tests_plugins_nvme_test_nvme_io_LDFLAGS = $(NVME_TEST_LINKFLAGS)

# The real daemon: the protocol tests' helpers (tests/protocol/proto.h)
# start it and talk to it.  "make check-nvme-valgrind" runs the daemon
# under valgrind.
tests_plugins_nvme_test_nvme_daemon_SOURCES = tests/plugins/nvme/test_nvme_daemon.c
tests_plugins_nvme_test_nvme_daemon_CPPFLAGS = $(PROTO_CPPFLAGS) -I$(top_srcdir)/tests/protocol \
	-DVFIOUSERCTL='"$(abs_top_builddir)/tools/vfiouserctl"'
tests_plugins_nvme_test_nvme_daemon_CFLAGS = $(PROTO_CFLAGS)
tests_plugins_nvme_test_nvme_daemon_LDADD = $(NVME_VFU_LDADD) $(PROTO_LDADD)
EXTRA_tests_plugins_nvme_test_nvme_daemon_DEPENDENCIES = daemon/vfiouserd plugins/nvme.la \
	tools/vfiouserctl

# Migration between two daemons: also the migration tests' helpers
# (tests/migration/migtest.h).
check_PROGRAMS += tests/plugins/nvme/test_nvme_migrate
TESTS += tests/plugins/nvme/test_nvme_migrate
tests_plugins_nvme_test_nvme_migrate_SOURCES = tests/plugins/nvme/test_nvme_migrate.c
tests_plugins_nvme_test_nvme_migrate_CPPFLAGS = $(MIG_CPPFLAGS) \
	-I$(top_srcdir)/tests/migration
tests_plugins_nvme_test_nvme_migrate_CFLAGS = $(MIG_CFLAGS)
tests_plugins_nvme_test_nvme_migrate_LDADD = $(NVME_VFU_LDADD) $(MIG_LDADD)
EXTRA_tests_plugins_nvme_test_nvme_migrate_DEPENDENCIES = daemon/vfiouserd plugins/nvme.la
if HAVE_LIBNBD
tests_plugins_nvme_test_nvme_migrate_LDADD += tests/plugins/nvme/libnbdserver.la
endif
if HAVE_LIBRBD
tests_plugins_nvme_test_nvme_migrate_CPPFLAGS += \
	-DCEPH_CLUSTER='"$(abs_top_srcdir)/tests/plugins/nvme/ceph-cluster"'
tests_plugins_nvme_test_nvme_migrate_LDADD += $(LIBRBD_LIBS)
endif

check-nvme-valgrind: tests/plugins/nvme/test_nvme_daemon daemon/vfiouserd plugins/nvme.la
	@test -n "$(VALGRIND)" || { echo "valgrind not found"; exit 77; }
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='tests/plugins/nvme/test_nvme_daemon' \
		CK_TIMEOUT_MULTIPLIER=10 \
		VFIOUSERD_WRAPPER="$(VALGRIND) --error-exitcode=99 -q --leak-check=full --errors-for-leak-kinds=definite"
# (no .PHONY: automake warns when it is declared under two conditions)

# The NBD back-end against real servers (nbdkit, qemu-nbd) the test starts.
if HAVE_LIBNBD
check_LTLIBRARIES += tests/plugins/nvme/libnbdserver.la
tests_plugins_nvme_libnbdserver_la_SOURCES = tests/plugins/nvme/nbd_server.c \
	tests/plugins/nvme/nbd_server.h
check_PROGRAMS += tests/plugins/nvme/test_nvme_nbd
TESTS += tests/plugins/nvme/test_nvme_nbd
tests_plugins_nvme_test_nvme_nbd_SOURCES = tests/plugins/nvme/test_nvme_nbd.c
tests_plugins_nvme_test_nvme_nbd_CFLAGS = $(NVME_TEST_CFLAGS) $(LIBNBD_CFLAGS)
tests_plugins_nvme_test_nvme_nbd_LDADD = tests/plugins/nvme/libnbdserver.la $(NVME_TEST_LDADD) \
	$(LIBNBD_LIBS)
tests_plugins_nvme_test_nvme_nbd_LDFLAGS = $(NVME_TEST_LINKFLAGS)
EXTRA_tests_plugins_nvme_test_nvme_nbd_DEPENDENCIES = plugins/nvme.la
# vfiouserd-nvme(8)'s BACK-ENDS examples, run as printed
TESTS += tests/plugins/nvme/nvme-backends.test
# end to end on an NBD export, the server restarted under fio (lab; ~2 min)
TESTS += tests/plugins/nvme/nvme-nbd.test
endif
EXTRA_DIST += tests/plugins/nvme/nvme-backends.test tests/plugins/nvme/nvme-nbd.test

# The RBD back-end against a one-node Ceph cluster the test starts
# (tests/plugins/nvme/ceph-cluster; about 1 min in all).
if HAVE_LIBRBD
check_PROGRAMS += tests/plugins/nvme/test_nvme_rbd
TESTS += tests/plugins/nvme/test_nvme_rbd
tests_plugins_nvme_test_nvme_rbd_SOURCES = tests/plugins/nvme/test_nvme_rbd.c
tests_plugins_nvme_test_nvme_rbd_CFLAGS = $(NVME_TEST_CFLAGS) \
	-DCEPH_CLUSTER='"$(abs_top_srcdir)/tests/plugins/nvme/ceph-cluster"'
tests_plugins_nvme_test_nvme_rbd_LDADD = $(NVME_TEST_LDADD) $(LIBRBD_LIBS)
tests_plugins_nvme_test_nvme_rbd_LDFLAGS = $(NVME_TEST_LINKFLAGS)
EXTRA_tests_plugins_nvme_test_nvme_rbd_DEPENDENCIES = plugins/nvme.la
endif
EXTRA_DIST += tests/plugins/nvme/ceph-cluster
# end to end on an RBD image (lab and Ceph; about 1 min)
TESTS += tests/plugins/nvme/nvme-rbd.test
EXTRA_DIST += tests/plugins/nvme/nvme-rbd.test

# built by 'make check', run by hand: bench_nvme [shadow|poll] [qd] [s]
tests_plugins_nvme_bench_nvme_SOURCES = tests/plugins/nvme/bench_nvme.c
tests_plugins_nvme_bench_nvme_CFLAGS = $(NVME_TEST_CFLAGS)
tests_plugins_nvme_bench_nvme_LDADD = $(NVME_TEST_LDADD)
tests_plugins_nvme_bench_nvme_LDFLAGS = $(NVME_TEST_LINKFLAGS)
endif
endif

# End to end with the real daemon, QEMU and Linux's nvme driver; each skips
# (77) without the QEMU lab of tests/e2e (see tests/plugins/nvme/e2e-nvme.sh).
if ENABLE_NVME
TESTS += tests/plugins/nvme/nvme-shadow.test tests/plugins/nvme/nvme-poll.test \
	tests/plugins/nvme/nvme-messages.test tests/plugins/nvme/nvme-adaptive.test \
	tests/plugins/nvme/nvme-upgrade.test tests/plugins/nvme/nvme-isolated-crash.test \
	tests/plugins/nvme/nvme-isolated-upgrade.test tests/plugins/nvme/nvme-isolated-crash-loop.test
endif
EXTRA_DIST += tests/plugins/nvme/nvme-shadow.test tests/plugins/nvme/nvme-poll.test \
	tests/plugins/nvme/nvme-messages.test tests/plugins/nvme/nvme-adaptive.test \
	tests/plugins/nvme/nvme-upgrade.test tests/plugins/nvme/nvme-isolated-crash.test \
	tests/plugins/nvme/nvme-isolated-upgrade.test tests/plugins/nvme/nvme-isolated-crash-loop.test \
	tests/plugins/nvme/e2e-nvme.sh
