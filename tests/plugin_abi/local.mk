# tests/plugin_abi: the plugin ABI across versions.  v1/ keeps the plugin
# header of API version 1 as it was installed; abi_v1 is built against it
# (and nothing of the tree), and test_abi_v1 loads it into today's daemon.
check_LTLIBRARIES += tests/plugin_abi/abi_v1.la
tests_plugin_abi_abi_v1_la_SOURCES = tests/plugin_abi/abi_v1.c
tests_plugin_abi_abi_v1_la_CPPFLAGS = -I$(top_srcdir)/tests/plugin_abi/v1
tests_plugin_abi_abi_v1_la_LDFLAGS = -rpath /nowhere $(PLUGIN_LINK_FLAGS)
EXTRA_DIST += tests/plugin_abi/v1/vfiouserd/plugin.h

if HAVE_CHECK
check_PROGRAMS += tests/plugin_abi/test_abi_v1
TESTS += tests/plugin_abi/test_abi_v1
tests_plugin_abi_test_abi_v1_SOURCES = tests/plugin_abi/test_abi_v1.c
tests_plugin_abi_test_abi_v1_CPPFLAGS = $(PROTO_CPPFLAGS) \
	-I$(top_srcdir)/tests/protocol \
	-DABI_V1_PATH='"$(abs_top_builddir)/tests/plugin_abi/.libs/abi_v1.so"'
tests_plugin_abi_test_abi_v1_CFLAGS = $(PROTO_CFLAGS)
tests_plugin_abi_test_abi_v1_LDADD = $(PROTO_LDADD)
EXTRA_tests_plugin_abi_test_abi_v1_DEPENDENCIES = daemon/vfiouserd \
	tests/plugin_abi/abi_v1.la
endif

# The example plugin built out of tree against "make install"'s header and
# .pc (runs make install into a scratch DESTDIR: a few seconds).
TESTS += tests/plugin_abi/out-of-tree.test
EXTRA_DIST += tests/plugin_abi/out-of-tree.test
check_SCRIPTS += man/vfiouserd-plugin.3
