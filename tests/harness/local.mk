# A fake daemon implementing the plugin API, for plugin unit tests.
if HAVE_CHECK
check_LTLIBRARIES += tests/harness/libfakevfud.la
tests_harness_libfakevfud_la_SOURCES = \
	tests/harness/fake_vfud.c tests/harness/fake_vfud.h
tests_harness_libfakevfud_la_LIBADD = $(LIBS)
endif
# Programs using it export the plugin API to the plugins they dlopen():
FAKE_VFUD_CFLAGS = -I$(top_srcdir)/tests/harness
FAKE_VFUD_LINKFLAGS = -Wl,--dynamic-list=$(top_srcdir)/daemon/plugin-api.dynlist
FAKE_VFUD_LIBS = $(top_builddir)/tests/harness/libfakevfud.la
