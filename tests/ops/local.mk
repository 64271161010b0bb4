# SPDX-License-Identifier: BSD-3-Clause
# tests/ops: operations -- the control socket and vfiouserctl, devices
# added, removed and reloaded at run time, reconnecting clients, socket
# activation, access control.  Each program starts the built daemon and
# runs alone: tests/ops/test_control (-v with CK_VERBOSITY=verbose).
# With the daemon under valgrind: make check-ops-valgrind.
if HAVE_CHECK
OPS_TESTS = \
	tests/ops/test_control \
	tests/ops/test_runtime \
	tests/ops/test_reconnect \
	tests/ops/test_activation \
	tests/ops/test_access \
	tests/ops/test_sandbox \
	tests/ops/test_upgrade \
	tests/ops/test_upgrade_skew \
	tests/ops/test_fdstore \
	tests/ops/test_uring_hotadd
check_PROGRAMS += $(OPS_TESTS)
TESTS += $(OPS_TESTS)

OPS_TEST_COMMON = tests/ops/ops_test.c tests/ops/ops_test.h \
	tests/daemon/daemon_test.c tests/daemon/daemon_test.h
OPS_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/common \
	-I$(top_srcdir)/common/client -I$(top_srcdir)/tests/daemon \
	-DBUILDDIR='"$(abs_top_builddir)"'
OPS_TEST_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(CHECK_CFLAGS) $(JSONC_CFLAGS)
OPS_TEST_LDADD = tests/common/libharness.la common/client/libvfuclient.la \
	$(GLIB_LIBS) $(CHECK_LIBS) $(JSONC_LIBS)
OPS_TEST_DEPS = daemon/vfiouserd tools/vfiouserctl plugins/gpio.la plugins/testdev.la

tests_ops_test_control_SOURCES = tests/ops/test_control.c $(OPS_TEST_COMMON)
tests_ops_test_control_CPPFLAGS = $(OPS_TEST_CPPFLAGS)
tests_ops_test_control_CFLAGS = $(OPS_TEST_CFLAGS)
tests_ops_test_control_LDADD = $(OPS_TEST_LDADD)
EXTRA_tests_ops_test_control_DEPENDENCIES = $(OPS_TEST_DEPS)

tests_ops_test_uring_hotadd_SOURCES = tests/ops/test_uring_hotadd.c $(OPS_TEST_COMMON)
tests_ops_test_uring_hotadd_CPPFLAGS = $(OPS_TEST_CPPFLAGS)
tests_ops_test_uring_hotadd_CFLAGS = $(OPS_TEST_CFLAGS)
tests_ops_test_uring_hotadd_LDADD = $(OPS_TEST_LDADD)
EXTRA_tests_ops_test_uring_hotadd_DEPENDENCIES = $(OPS_TEST_DEPS)

tests_ops_test_fdstore_SOURCES = tests/ops/test_fdstore.c $(OPS_TEST_COMMON)
tests_ops_test_fdstore_CPPFLAGS = $(OPS_TEST_CPPFLAGS)
tests_ops_test_fdstore_CFLAGS = $(OPS_TEST_CFLAGS)
tests_ops_test_fdstore_LDADD = $(OPS_TEST_LDADD)
EXTRA_tests_ops_test_fdstore_DEPENDENCIES = $(OPS_TEST_DEPS)

tests_ops_test_runtime_SOURCES = tests/ops/test_runtime.c $(OPS_TEST_COMMON)
tests_ops_test_runtime_CPPFLAGS = $(OPS_TEST_CPPFLAGS)
tests_ops_test_runtime_CFLAGS = $(OPS_TEST_CFLAGS)
tests_ops_test_runtime_LDADD = $(OPS_TEST_LDADD)
EXTRA_tests_ops_test_runtime_DEPENDENCIES = $(OPS_TEST_DEPS)

tests_ops_test_reconnect_SOURCES = tests/ops/test_reconnect.c $(OPS_TEST_COMMON)
tests_ops_test_reconnect_CPPFLAGS = $(OPS_TEST_CPPFLAGS)
tests_ops_test_reconnect_CFLAGS = $(OPS_TEST_CFLAGS)
tests_ops_test_reconnect_LDADD = $(OPS_TEST_LDADD)
EXTRA_tests_ops_test_reconnect_DEPENDENCIES = $(OPS_TEST_DEPS)

tests_ops_test_activation_SOURCES = tests/ops/test_activation.c $(OPS_TEST_COMMON)
tests_ops_test_activation_CPPFLAGS = $(OPS_TEST_CPPFLAGS)
tests_ops_test_activation_CFLAGS = $(OPS_TEST_CFLAGS)
tests_ops_test_activation_LDADD = $(OPS_TEST_LDADD)
EXTRA_tests_ops_test_activation_DEPENDENCIES = $(OPS_TEST_DEPS)

tests_ops_test_access_SOURCES = tests/ops/test_access.c $(OPS_TEST_COMMON)
tests_ops_test_access_CPPFLAGS = $(OPS_TEST_CPPFLAGS)
tests_ops_test_access_CFLAGS = $(OPS_TEST_CFLAGS)
tests_ops_test_access_LDADD = $(OPS_TEST_LDADD)
EXTRA_tests_ops_test_access_DEPENDENCIES = $(OPS_TEST_DEPS)

tests_ops_test_sandbox_SOURCES = tests/ops/test_sandbox.c $(OPS_TEST_COMMON)
tests_ops_test_sandbox_CPPFLAGS = $(OPS_TEST_CPPFLAGS)
tests_ops_test_sandbox_CFLAGS = $(OPS_TEST_CFLAGS)
tests_ops_test_sandbox_LDADD = $(OPS_TEST_LDADD)
EXTRA_tests_ops_test_sandbox_DEPENDENCIES = $(OPS_TEST_DEPS) plugins/hostile.la

check-ops-valgrind:
	@test -n "$(VALGRIND)" || { echo "valgrind not found"; exit 77; }
	VFIOUSERD_WRAPPER="$(VALGRIND) --error-exitcode=99 -q --leak-check=full \
		--suppressions=$(abs_top_srcdir)/tests/daemon/glib.supp" \
	VFIOUSERD_NO_DLCLOSE=1 \
		$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(OPS_TESTS)"
.PHONY: check-ops-valgrind
endif

# The QMP hot-plug test with a real guest (skips without the QEMU lab), and
# its QMP client.
check_PROGRAMS += tests/ops/vfu-qmp
tests_ops_vfu_qmp_SOURCES = tests/ops/vfu_qmp.c
tests_ops_vfu_qmp_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS)
tests_ops_vfu_qmp_LDADD = $(GLIB_LIBS) $(JSONC_LIBS)
TESTS += tests/e2e/hotplug.test
EXTRA_DIST += tests/e2e/hotplug.test

tests_ops_test_upgrade_SOURCES = tests/ops/test_upgrade.c $(OPS_TEST_COMMON)
tests_ops_test_upgrade_CPPFLAGS = $(OPS_TEST_CPPFLAGS)
tests_ops_test_upgrade_CFLAGS = $(OPS_TEST_CFLAGS)
tests_ops_test_upgrade_LDADD = $(OPS_TEST_LDADD)
EXTRA_tests_ops_test_upgrade_DEPENDENCIES = $(OPS_TEST_DEPS)

# The same file against an earlier commit's daemon, built from git history
# by build-release.sh (about 2 minutes the first time, kept in
# tests/ops/release-*; exit 77 outside a git checkout).
tests_ops_test_upgrade_skew_SOURCES = tests/ops/test_upgrade.c $(OPS_TEST_COMMON)
tests_ops_test_upgrade_skew_CPPFLAGS = $(OPS_TEST_CPPFLAGS) -DUPGRADE_SKEW \
	-DSRCDIR='"$(abs_top_srcdir)"'
tests_ops_test_upgrade_skew_CFLAGS = $(OPS_TEST_CFLAGS)
tests_ops_test_upgrade_skew_LDADD = $(OPS_TEST_LDADD)
EXTRA_tests_ops_test_upgrade_skew_DEPENDENCIES = $(OPS_TEST_DEPS)
EXTRA_DIST += tests/ops/build-release.sh
