# SPDX-License-Identifier: BSD-3-Clause
# Tests of the python plugin (plugins/python).

# Unit test of the built module and its examples in the fake daemon.
if ENABLE_PYTHON
if HAVE_CHECK
check_PROGRAMS += tests/plugins/python/test_python
TESTS += tests/plugins/python/test_python
tests_plugins_python_test_python_SOURCES = tests/plugins/python/test_python.c
tests_plugins_python_test_python_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(FAKE_VFUD_CFLAGS) \
	-DPY_EXAMPLES='"$(abs_top_srcdir)/plugins/python/examples"'
tests_plugins_python_test_python_LDFLAGS = $(AM_LDFLAGS) $(FAKE_VFUD_LINKFLAGS)
tests_plugins_python_test_python_LDADD = $(FAKE_VFUD_LIBS) $(CHECK_LIBS)
EXTRA_tests_plugins_python_test_python_DEPENDENCIES = plugins/python.la
endif
endif

# The plugin in the real daemon: failures contained (tests/daemon helpers).
if ENABLE_PYTHON
if HAVE_CHECK
check_PROGRAMS += tests/plugins/python/test_python_daemon
TESTS += tests/plugins/python/test_python_daemon
tests_plugins_python_test_python_daemon_SOURCES = tests/plugins/python/test_python_daemon.c \
	$(DAEMON_TEST_COMMON)
tests_plugins_python_test_python_daemon_CPPFLAGS = $(DAEMON_TEST_CPPFLAGS) -I$(top_srcdir)/tests/daemon
tests_plugins_python_test_python_daemon_CFLAGS = $(DAEMON_TEST_CFLAGS)
tests_plugins_python_test_python_daemon_LDADD = $(DAEMON_TEST_LDADD)
EXTRA_tests_plugins_python_test_python_daemon_DEPENDENCIES = $(DAEMON_TEST_DEPS) \
	plugins/python.la
endif
endif
