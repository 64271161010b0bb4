# example: the plugin of vfiouserd-plugin(3)'s EXAMPLE (man/local.mk puts
# this source in the page).  Built for the tests only, never installed;
# tests/plugin_abi/out-of-tree.test builds it again from the installed
# header, as a plugin author would.
check_LTLIBRARIES += plugins/example.la
plugins_example_la_SOURCES = plugins/example/example.c
plugins_example_la_LDFLAGS = -rpath /nowhere $(PLUGIN_LINK_FLAGS)

# Unit test of the built module in the fake daemon (tests/harness).
if HAVE_CHECK
check_PROGRAMS += plugins/example/test_example
TESTS += plugins/example/test_example
plugins_example_test_example_SOURCES = plugins/example/test_example.c
plugins_example_test_example_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(FAKE_VFUD_CFLAGS)
plugins_example_test_example_LDFLAGS = $(AM_LDFLAGS) $(FAKE_VFUD_LINKFLAGS)
plugins_example_test_example_LDADD = $(FAKE_VFUD_LIBS) $(CHECK_LIBS)
EXTRA_plugins_example_test_example_DEPENDENCIES = plugins/example.la
endif
