# testdev: the test-suite's device, and broken plugins for loader tests.
# All are check-only modules: "-rpath /nowhere" makes libtool build shared
# objects although nothing is installed.  They land in plugins/.libs/.
TESTDEV_LINK_FLAGS = -rpath /nowhere $(PLUGIN_LINK_FLAGS)

check_LTLIBRARIES += plugins/testdev.la
plugins_testdev_la_SOURCES = plugins/testdev/testdev.c
plugins_testdev_la_LDFLAGS = $(TESTDEV_LINK_FLAGS)

check_LTLIBRARIES += plugins/bad_abi.la plugins/bad_noreal.la plugins/bad_nosym.la
plugins_bad_abi_la_SOURCES = plugins/testdev/bad_abi.c
plugins_bad_abi_la_LDFLAGS = $(TESTDEV_LINK_FLAGS)
plugins_bad_noreal_la_SOURCES = plugins/testdev/bad_noreal.c
plugins_bad_noreal_la_LDFLAGS = $(TESTDEV_LINK_FLAGS)
# No version script: it would name a symbol this object lacks on purpose.
plugins_bad_nosym_la_SOURCES = plugins/testdev/bad_nosym.c
plugins_bad_nosym_la_LDFLAGS = -rpath /nowhere -module -avoid-version -shared

# fakehost: the plugin API without a daemon, for unit tests of the modules.
# Test programs export it (the daemon's dynamic list) and dlopen() the
# built modules, so they test the very .so files the daemon loads.
EXTRA_DIST += plugins/testdev/fakehost.h
FAKEHOST_DEFS = $(AM_CPPFLAGS) -DBUILD_PLUGINDIR='"$(abs_top_builddir)/plugins/.libs"'
FAKEHOST_LINK = $(AM_LDFLAGS) -Wl,--dynamic-list=$(srcdir)/daemon/plugin-api.dynlist

if HAVE_CHECK
check_PROGRAMS += plugins/testdev/test_testdev
TESTS += plugins/testdev/test_testdev
plugins_testdev_test_testdev_SOURCES = plugins/testdev/test_testdev.c \
	plugins/testdev/fakehost.c plugins/testdev/fakehost.h
plugins_testdev_test_testdev_CPPFLAGS = $(FAKEHOST_DEFS)
plugins_testdev_test_testdev_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
plugins_testdev_test_testdev_LDFLAGS = $(FAKEHOST_LINK)
plugins_testdev_test_testdev_LDADD = $(CHECK_LIBS)
EXTRA_plugins_testdev_test_testdev_DEPENDENCIES = plugins/testdev.la \
	plugins/bad_abi.la plugins/bad_noreal.la plugins/bad_nosym.la
endif
