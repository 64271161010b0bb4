# SPDX-License-Identifier: BSD-3-Clause
# tests/plugins: the plugins' own tests, in one place (nvme/ and python/
# have their own local.mk).  Unit tests of the built modules run them in the fake
# daemon (tests/harness) and dlopen() the very .so files the daemon loads.
if HAVE_CHECK
PLUGIN_UNIT_TESTS = tests/plugins/test_gpio tests/plugins/test_testdev \
	tests/plugins/test_example
check_PROGRAMS += $(PLUGIN_UNIT_TESTS)
TESTS += $(PLUGIN_UNIT_TESTS)
PLUGIN_UNIT_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(FAKE_VFUD_CFLAGS)
PLUGIN_UNIT_LDFLAGS = $(AM_LDFLAGS) $(FAKE_VFUD_LINKFLAGS)
PLUGIN_UNIT_LDADD = $(FAKE_VFUD_LIBS) $(CHECK_LIBS)

tests_plugins_test_gpio_SOURCES = tests/plugins/test_gpio.c
tests_plugins_test_gpio_CFLAGS = $(PLUGIN_UNIT_CFLAGS)
tests_plugins_test_gpio_LDFLAGS = $(PLUGIN_UNIT_LDFLAGS)
tests_plugins_test_gpio_LDADD = $(PLUGIN_UNIT_LDADD)
EXTRA_tests_plugins_test_gpio_DEPENDENCIES = plugins/gpio.la

tests_plugins_test_testdev_SOURCES = tests/plugins/test_testdev.c
tests_plugins_test_testdev_CFLAGS = $(PLUGIN_UNIT_CFLAGS)
tests_plugins_test_testdev_LDFLAGS = $(PLUGIN_UNIT_LDFLAGS)
tests_plugins_test_testdev_LDADD = $(PLUGIN_UNIT_LDADD)
EXTRA_tests_plugins_test_testdev_DEPENDENCIES = plugins/testdev.la \
	plugins/bad_abi.la plugins/bad_noreal.la plugins/bad_nosym.la

tests_plugins_test_example_SOURCES = tests/plugins/test_example.c
tests_plugins_test_example_CFLAGS = $(PLUGIN_UNIT_CFLAGS)
tests_plugins_test_example_LDFLAGS = $(PLUGIN_UNIT_LDFLAGS)
tests_plugins_test_example_LDADD = $(PLUGIN_UNIT_LDADD)
EXTRA_tests_plugins_test_example_DEPENDENCIES = plugins/example.la
endif

# The plugin ABI across versions.  v1/ keeps the plugin header of API
# version 1 as it was installed; abi_v1 is built against it (and nothing
# of the tree), and test_abi_v1 loads it into today's daemon.
check_LTLIBRARIES += tests/plugins/abi_v1.la
tests_plugins_abi_v1_la_SOURCES = tests/plugins/abi_v1.c
tests_plugins_abi_v1_la_CPPFLAGS = -I$(top_srcdir)/tests/plugins/v1
tests_plugins_abi_v1_la_LDFLAGS = -rpath /nowhere $(PLUGIN_LINK_FLAGS)
EXTRA_DIST += tests/plugins/v1/vfiouserd/plugin.h

if HAVE_CHECK
check_PROGRAMS += tests/plugins/test_abi_v1
TESTS += tests/plugins/test_abi_v1
tests_plugins_test_abi_v1_SOURCES = tests/plugins/test_abi_v1.c
tests_plugins_test_abi_v1_CPPFLAGS = $(PROTO_CPPFLAGS) \
	-I$(top_srcdir)/tests/protocol \
	-DABI_V1_PATH='"$(abs_top_builddir)/tests/plugins/.libs/abi_v1.so"'
tests_plugins_test_abi_v1_CFLAGS = $(PROTO_CFLAGS)
tests_plugins_test_abi_v1_LDADD = $(PROTO_LDADD)
EXTRA_tests_plugins_test_abi_v1_DEPENDENCIES = daemon/vfiouserd \
	tests/plugins/abi_v1.la
endif

# The example plugin built out of tree against "make install"'s header and
# .pc (runs make install into a scratch DESTDIR: a few seconds).
TESTS += tests/plugins/out-of-tree.test
EXTRA_DIST += tests/plugins/out-of-tree.test
check_SCRIPTS += man/vfiouserd-plugin.3
