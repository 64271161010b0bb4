# SPDX-License-Identifier: BSD-3-Clause
# python: device models written in Python (embeds CPython; optional,
# ./configure --disable-python).
if ENABLE_PYTHON
plugin_LTLIBRARIES += plugins/python.la
plugins_python_la_SOURCES = \
	plugins/python/pyplugin.h \
	plugins/python/python.c \
	plugins/python/py_interp.c \
	plugins/python/py_device.c \
	plugins/python/py_dma.c \
	plugins/python/py_watch.c
plugins_python_la_CFLAGS = $(AM_CFLAGS) $(PYTHON_CFLAGS)
plugins_python_la_LIBADD = $(PYTHON_LIBS)
plugins_python_la_LDFLAGS = $(PLUGIN_LINK_FLAGS)
endif

# The shipped examples (installed beside the man page's text).
pythonexamplesdir = $(docdir)/python-examples
dist_pythonexamples_DATA = \
	plugins/python/examples/idio16.py \
	plugins/python/examples/dmaengine.py

# Unit test of the built module and its examples in the fake daemon.
if ENABLE_PYTHON
if HAVE_CHECK
check_PROGRAMS += plugins/python/test_python
TESTS += plugins/python/test_python
plugins_python_test_python_SOURCES = plugins/python/test_python.c
plugins_python_test_python_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(FAKE_VFUD_CFLAGS) \
	-DPY_EXAMPLES='"$(abs_top_srcdir)/plugins/python/examples"'
plugins_python_test_python_LDFLAGS = $(AM_LDFLAGS) $(FAKE_VFUD_LINKFLAGS)
plugins_python_test_python_LDADD = $(FAKE_VFUD_LIBS) $(CHECK_LIBS)
EXTRA_plugins_python_test_python_DEPENDENCIES = plugins/python.la
endif
endif

# The man page, with the examples inserted from the files above.
EXTRA_DIST += plugins/python/vfiouserd-python.3.in plugins/python/man-include.awk
CLEANFILES += plugins/python/vfiouserd-python.3
if ENABLE_PYTHON
man_MANS = plugins/python/vfiouserd-python.3
endif
plugins/python/vfiouserd-python.3: $(srcdir)/plugins/python/vfiouserd-python.3.in \
		$(srcdir)/plugins/python/man-include.awk \
		$(srcdir)/plugins/python/examples/idio16.py \
		$(srcdir)/plugins/python/examples/dmaengine.py
	$(AM_V_GEN)$(MKDIR_P) plugins/python && \
	$(AWK) -v src=$(srcdir) -f $(srcdir)/plugins/python/man-include.awk \
		$(srcdir)/plugins/python/vfiouserd-python.3.in >$@.tmp && mv $@.tmp $@

# The man page's examples are the shipped files, its command runs.
if ENABLE_PYTHON
TESTS += plugins/python/man.test
check_SCRIPTS += plugins/python/vfiouserd-python.3
endif
EXTRA_DIST += plugins/python/man.test

# The plugin in the real daemon: failures contained (tests/daemon helpers).
if ENABLE_PYTHON
if HAVE_CHECK
check_PROGRAMS += plugins/python/test_python_daemon
TESTS += plugins/python/test_python_daemon
plugins_python_test_python_daemon_SOURCES = plugins/python/test_python_daemon.c \
	$(DAEMON_TEST_COMMON)
plugins_python_test_python_daemon_CPPFLAGS = $(DAEMON_TEST_CPPFLAGS) -I$(top_srcdir)/tests/daemon
plugins_python_test_python_daemon_CFLAGS = $(DAEMON_TEST_CFLAGS)
plugins_python_test_python_daemon_LDADD = $(DAEMON_TEST_LDADD)
EXTRA_plugins_python_test_python_daemon_DEPENDENCIES = $(DAEMON_TEST_DEPS) \
	plugins/python.la
endif
endif

# Sanitizer builds: LeakSanitizer is told about the interpreter (see
# lsan.supp); test programs and the daemons they start inherit this.
EXTRA_DIST += plugins/python/lsan.supp
if ENABLE_SANITIZERS
if ENABLE_PYTHON
AM_TESTS_ENVIRONMENT = \
	LSAN_OPTIONS="suppressions=$(abs_top_srcdir)/plugins/python/lsan.supp$${LSAN_OPTIONS:+:$$LSAN_OPTIONS}"; \
	export LSAN_OPTIONS;
endif
endif
