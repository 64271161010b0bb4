# testdev: the test-suite's device, and broken plugins for loader tests.
# All are check-only modules: "-rpath /nowhere" makes libtool build shared
# objects although nothing is installed.  They land in plugins/.libs/.
TESTDEV_LINK_FLAGS = -rpath /nowhere $(PLUGIN_LINK_FLAGS)

check_LTLIBRARIES += plugins/testdev.la
plugins_testdev_la_SOURCES = plugins/testdev/testdev.c
plugins_testdev_la_LDFLAGS = $(TESTDEV_LINK_FLAGS)

# A device model that attacks its host on command (tests/ops/test_sandbox).
check_LTLIBRARIES += plugins/hostile.la
plugins_hostile_la_SOURCES = plugins/testdev/hostile.c
plugins_hostile_la_LDFLAGS = $(TESTDEV_LINK_FLAGS)

check_LTLIBRARIES += plugins/bad_abi.la plugins/bad_noreal.la plugins/bad_nosym.la
plugins_bad_abi_la_SOURCES = plugins/testdev/bad_abi.c
plugins_bad_abi_la_LDFLAGS = $(TESTDEV_LINK_FLAGS)
plugins_bad_noreal_la_SOURCES = plugins/testdev/bad_noreal.c
plugins_bad_noreal_la_LDFLAGS = $(TESTDEV_LINK_FLAGS)
# No version script: it would name a symbol this object lacks on purpose.
plugins_bad_nosym_la_SOURCES = plugins/testdev/bad_nosym.c
plugins_bad_nosym_la_LDFLAGS = -rpath /nowhere -module -avoid-version -shared

# Unit test of the built modules in the fake daemon (tests/harness): it
# dlopen()s the very .so files the daemon loads.
if HAVE_CHECK
check_PROGRAMS += plugins/testdev/test_testdev
TESTS += plugins/testdev/test_testdev
plugins_testdev_test_testdev_SOURCES = plugins/testdev/test_testdev.c
plugins_testdev_test_testdev_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(FAKE_VFUD_CFLAGS)
plugins_testdev_test_testdev_LDFLAGS = $(AM_LDFLAGS) $(FAKE_VFUD_LINKFLAGS)
plugins_testdev_test_testdev_LDADD = $(FAKE_VFUD_LIBS) $(CHECK_LIBS)
EXTRA_plugins_testdev_test_testdev_DEPENDENCIES = plugins/testdev.la \
	plugins/bad_abi.la plugins/bad_noreal.la plugins/bad_nosym.la
endif
