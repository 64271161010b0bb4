# SPDX-License-Identifier: BSD-3-Clause
# tests/daemon: the daemon as a whole, started from its build-tree binary by
# the test harness: configuration file, plugin loader, life cycle, sd_notify.
# Each program runs alone: tests/daemon/test_lifecycle (-v with CK_VERBOSITY).

# Broken plugins only these tests use; they land in tests/daemon/.libs/.
check_LTLIBRARIES += tests/daemon/bad_undef.la tests/daemon/bad_nopci.la
tests_daemon_bad_undef_la_SOURCES = tests/daemon/bad_undef.c
tests_daemon_bad_undef_la_LDFLAGS = -rpath /nowhere $(PLUGIN_LINK_FLAGS)
tests_daemon_bad_nopci_la_SOURCES = tests/daemon/bad_nopci.c
tests_daemon_bad_nopci_la_LDFLAGS = -rpath /nowhere $(PLUGIN_LINK_FLAGS)

if HAVE_CHECK
DAEMON_TESTS = \
	tests/daemon/test_config \
	tests/daemon/test_loader \
	tests/daemon/test_lifecycle \
	tests/daemon/test_sd_notify \
	tests/daemon/test_watchdog \
	tests/daemon/test_isolate
check_PROGRAMS += $(DAEMON_TESTS)
TESTS += $(DAEMON_TESTS)

DAEMON_TEST_COMMON = tests/daemon/daemon_test.c tests/daemon/daemon_test.h
DAEMON_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/common \
	-I$(top_srcdir)/common/client -DBUILDDIR='"$(abs_top_builddir)"'
DAEMON_TEST_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS) $(CHECK_CFLAGS)
DAEMON_TEST_LDADD = tests/common/libharness.la common/client/libvfuclient.la \
	$(GLIB_LIBS) $(CHECK_LIBS) $(JSONC_LIBS)
# The tests run the daemon and load these plugins: build them first.
DAEMON_TEST_DEPS = daemon/vfiouserd plugins/gpio.la plugins/testdev.la \
	plugins/bad_abi.la plugins/bad_noreal.la plugins/bad_nosym.la \
	tests/daemon/bad_undef.la tests/daemon/bad_nopci.la

tests_daemon_test_config_SOURCES = tests/daemon/test_config.c $(DAEMON_TEST_COMMON)
tests_daemon_test_config_CPPFLAGS = $(DAEMON_TEST_CPPFLAGS)
tests_daemon_test_config_CFLAGS = $(DAEMON_TEST_CFLAGS)
tests_daemon_test_config_LDADD = $(DAEMON_TEST_LDADD)
EXTRA_tests_daemon_test_config_DEPENDENCIES = $(DAEMON_TEST_DEPS)

tests_daemon_test_watchdog_SOURCES = tests/daemon/test_watchdog.c $(DAEMON_TEST_COMMON)
tests_daemon_test_watchdog_CPPFLAGS = $(DAEMON_TEST_CPPFLAGS)
tests_daemon_test_watchdog_CFLAGS = $(DAEMON_TEST_CFLAGS)
tests_daemon_test_watchdog_LDADD = $(DAEMON_TEST_LDADD)
EXTRA_tests_daemon_test_watchdog_DEPENDENCIES = $(DAEMON_TEST_DEPS)

tests_daemon_test_isolate_SOURCES = tests/daemon/test_isolate.c $(DAEMON_TEST_COMMON)
tests_daemon_test_isolate_CPPFLAGS = $(DAEMON_TEST_CPPFLAGS)
tests_daemon_test_isolate_CFLAGS = $(DAEMON_TEST_CFLAGS)
tests_daemon_test_isolate_LDADD = $(DAEMON_TEST_LDADD)
EXTRA_tests_daemon_test_isolate_DEPENDENCIES = $(DAEMON_TEST_DEPS)

tests_daemon_test_loader_SOURCES = tests/daemon/test_loader.c $(DAEMON_TEST_COMMON)
tests_daemon_test_loader_CPPFLAGS = $(DAEMON_TEST_CPPFLAGS)
tests_daemon_test_loader_CFLAGS = $(DAEMON_TEST_CFLAGS)
tests_daemon_test_loader_LDADD = $(DAEMON_TEST_LDADD)
EXTRA_tests_daemon_test_loader_DEPENDENCIES = $(DAEMON_TEST_DEPS)

tests_daemon_test_lifecycle_SOURCES = tests/daemon/test_lifecycle.c $(DAEMON_TEST_COMMON)
tests_daemon_test_lifecycle_CPPFLAGS = $(DAEMON_TEST_CPPFLAGS)
tests_daemon_test_lifecycle_CFLAGS = $(DAEMON_TEST_CFLAGS)
tests_daemon_test_lifecycle_LDADD = $(DAEMON_TEST_LDADD)
EXTRA_tests_daemon_test_lifecycle_DEPENDENCIES = $(DAEMON_TEST_DEPS)

tests_daemon_test_sd_notify_SOURCES = tests/daemon/test_sd_notify.c $(DAEMON_TEST_COMMON)
tests_daemon_test_sd_notify_CPPFLAGS = $(DAEMON_TEST_CPPFLAGS)
tests_daemon_test_sd_notify_CFLAGS = $(DAEMON_TEST_CFLAGS)
tests_daemon_test_sd_notify_LDADD = $(DAEMON_TEST_LDADD)
EXTRA_tests_daemon_test_sd_notify_DEPENDENCIES = $(DAEMON_TEST_DEPS)
endif

# These tests with the daemon under valgrind (a leak or a memory error
# makes the daemon exit 99, which fails the test that ran it):
#   make check-daemon-valgrind
# VFIOUSERD_NO_DLCLOSE keeps plugins mapped so their frames have names.
EXTRA_DIST += tests/daemon/glib.supp
if HAVE_CHECK
check-daemon-valgrind:
	@test -n "$(VALGRIND)" || { echo "valgrind not found"; exit 77; }
	VFIOUSERD_WRAPPER="$(VALGRIND) --error-exitcode=99 -q --leak-check=full \
		--suppressions=$(abs_top_srcdir)/tests/daemon/glib.supp" \
	VFIOUSERD_NO_DLCLOSE=1 \
		$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(DAEMON_TESTS)"
.PHONY: check-daemon-valgrind
endif
