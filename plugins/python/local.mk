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
