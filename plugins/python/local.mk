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
