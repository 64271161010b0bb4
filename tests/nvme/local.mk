# SPDX-License-Identifier: BSD-3-Clause
# Tests of the NVMe plugin.
#
# The test driver (nvme_tdrv.h) plays the guest; its NVMe logic is
# transport-independent.  It reaches the plugin either loaded into the fake
# daemon (nvme_tdrv_fake.c: test_nvme_ctrl, test_nvme_io, bench_nvme) or
# through the real daemon over vfio-user with the client library
# (nvme_tdrv_vfu.c: test_nvme_daemon, and tests/bench's bench_nvme_host).
if ENABLE_NVME
check_LTLIBRARIES += tests/nvme/libnvmetdrv.la tests/nvme/libnvmetdrv_vfu.la
tests_nvme_libnvmetdrv_la_SOURCES = tests/nvme/nvme_tdrv.c tests/nvme/nvme_tdrv.h
tests_nvme_libnvmetdrv_vfu_la_SOURCES = tests/nvme/nvme_tdrv_vfu.c \
	tests/nvme/nvme_tdrv_vfu.h
tests_nvme_libnvmetdrv_vfu_la_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/client
# what a program driving the real daemon links
NVME_VFU_LDADD = tests/nvme/libnvmetdrv_vfu.la tests/nvme/libnvmetdrv.la \
	tests/client/libvfuclient.la
endif

if HAVE_CHECK
if ENABLE_NVME
NVME_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(FAKE_VFUD_CFLAGS) \
	-DNVME_PLUGIN_SO='"$(abs_top_builddir)/plugins/.libs/nvme.so"'
NVME_TEST_LDADD = tests/nvme/libnvmetdrv_fake.la tests/nvme/libnvmetdrv.la \
	$(FAKE_VFUD_LIBS) $(CHECK_LIBS)
NVME_TEST_LINKFLAGS = $(AM_LDFLAGS) $(FAKE_VFUD_LINKFLAGS)

check_LTLIBRARIES += tests/nvme/libnvmetdrv_fake.la
tests_nvme_libnvmetdrv_fake_la_SOURCES = tests/nvme/nvme_tdrv_fake.c \
	tests/nvme/nvme_tdrv_fake.h
tests_nvme_libnvmetdrv_fake_la_CFLAGS = $(NVME_TEST_CFLAGS)

check_PROGRAMS += tests/nvme/test_nvme_ctrl tests/nvme/test_nvme_io \
	tests/nvme/test_nvme_daemon \
	tests/nvme/bench_nvme
TESTS += tests/nvme/test_nvme_ctrl tests/nvme/test_nvme_io \
	tests/nvme/test_nvme_daemon

tests_nvme_test_nvme_ctrl_SOURCES = tests/nvme/test_nvme_ctrl.c
tests_nvme_test_nvme_ctrl_CFLAGS = $(NVME_TEST_CFLAGS)
tests_nvme_test_nvme_ctrl_LDADD = $(NVME_TEST_LDADD)
tests_nvme_test_nvme_ctrl_LDFLAGS = $(NVME_TEST_LINKFLAGS)

tests_nvme_test_nvme_io_SOURCES = tests/nvme/test_nvme_io.c
tests_nvme_test_nvme_io_CFLAGS = $(NVME_TEST_CFLAGS)
tests_nvme_test_nvme_io_LDADD = $(NVME_TEST_LDADD)
tests_nvme_test_nvme_io_LDFLAGS = $(NVME_TEST_LINKFLAGS)

# The real daemon: the protocol tests' helpers (tests/protocol/proto.h)
# start it and talk to it.  "make check-nvme-valgrind" runs the daemon
# under valgrind.
tests_nvme_test_nvme_daemon_SOURCES = tests/nvme/test_nvme_daemon.c
tests_nvme_test_nvme_daemon_CPPFLAGS = $(PROTO_CPPFLAGS) -I$(top_srcdir)/tests/protocol \
	-DVFIOUSERCTL='"$(abs_top_builddir)/tools/vfiouserctl"'
tests_nvme_test_nvme_daemon_CFLAGS = $(PROTO_CFLAGS)
tests_nvme_test_nvme_daemon_LDADD = $(NVME_VFU_LDADD) $(PROTO_LDADD)
EXTRA_tests_nvme_test_nvme_daemon_DEPENDENCIES = daemon/vfiouserd plugins/nvme.la \
	tools/vfiouserctl

# Migration between two daemons: also the migration tests' helpers
# (tests/migration/migtest.h).
check_PROGRAMS += tests/nvme/test_nvme_migrate
TESTS += tests/nvme/test_nvme_migrate
tests_nvme_test_nvme_migrate_SOURCES = tests/nvme/test_nvme_migrate.c
tests_nvme_test_nvme_migrate_CPPFLAGS = $(MIG_CPPFLAGS) \
	-I$(top_srcdir)/tests/migration
tests_nvme_test_nvme_migrate_CFLAGS = $(MIG_CFLAGS)
tests_nvme_test_nvme_migrate_LDADD = $(NVME_VFU_LDADD) $(MIG_LDADD)
EXTRA_tests_nvme_test_nvme_migrate_DEPENDENCIES = daemon/vfiouserd plugins/nvme.la
if HAVE_LIBNBD
tests_nvme_test_nvme_migrate_LDADD += tests/nvme/libnbdserver.la
endif

check-nvme-valgrind: tests/nvme/test_nvme_daemon daemon/vfiouserd plugins/nvme.la
	@test -n "$(VALGRIND)" || { echo "valgrind not found"; exit 77; }
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='tests/nvme/test_nvme_daemon' \
		CK_TIMEOUT_MULTIPLIER=10 \
		VFIOUSERD_WRAPPER="$(VALGRIND) --error-exitcode=99 -q --leak-check=full --errors-for-leak-kinds=definite"
# (no .PHONY: automake warns when it is declared under two conditions)

# The NBD back-end against real servers (nbdkit, qemu-nbd) the test starts.
if HAVE_LIBNBD
check_LTLIBRARIES += tests/nvme/libnbdserver.la
tests_nvme_libnbdserver_la_SOURCES = tests/nvme/nbd_server.c \
	tests/nvme/nbd_server.h
check_PROGRAMS += tests/nvme/test_nvme_nbd
TESTS += tests/nvme/test_nvme_nbd
tests_nvme_test_nvme_nbd_SOURCES = tests/nvme/test_nvme_nbd.c
tests_nvme_test_nvme_nbd_CFLAGS = $(NVME_TEST_CFLAGS) $(LIBNBD_CFLAGS)
tests_nvme_test_nvme_nbd_LDADD = tests/nvme/libnbdserver.la $(NVME_TEST_LDADD) \
	$(LIBNBD_LIBS)
tests_nvme_test_nvme_nbd_LDFLAGS = $(NVME_TEST_LINKFLAGS)
EXTRA_tests_nvme_test_nvme_nbd_DEPENDENCIES = plugins/nvme.la
# vfiouserd-nvme(8)'s BACK-ENDS examples, run as printed
TESTS += tests/nvme/nvme-backends.test
# end to end on an NBD export, the server restarted under fio (lab; ~2 min)
TESTS += tests/nvme/nvme-nbd.test
endif
EXTRA_DIST += tests/nvme/nvme-backends.test tests/nvme/nvme-nbd.test

# built by 'make check', run by hand: bench_nvme [shadow|poll] [qd] [s]
tests_nvme_bench_nvme_SOURCES = tests/nvme/bench_nvme.c
tests_nvme_bench_nvme_CFLAGS = $(NVME_TEST_CFLAGS)
tests_nvme_bench_nvme_LDADD = $(NVME_TEST_LDADD)
tests_nvme_bench_nvme_LDFLAGS = $(NVME_TEST_LINKFLAGS)
endif
endif

# End to end with the real daemon, QEMU and Linux's nvme driver; each skips
# (77) without the QEMU lab of tests/e2e (see tests/nvme/e2e-nvme.sh).
if ENABLE_NVME
TESTS += tests/nvme/nvme-shadow.test tests/nvme/nvme-poll.test \
	tests/nvme/nvme-messages.test tests/nvme/nvme-adaptive.test \
	tests/nvme/nvme-upgrade.test
endif
EXTRA_DIST += tests/nvme/nvme-shadow.test tests/nvme/nvme-poll.test \
	tests/nvme/nvme-messages.test tests/nvme/nvme-adaptive.test \
	tests/nvme/nvme-upgrade.test \
	tests/nvme/e2e-nvme.sh
