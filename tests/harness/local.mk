# SPDX-License-Identifier: BSD-3-Clause
# A fake daemon implementing the plugin API, for plugin unit tests.  It
# parses config values with the daemon's own common/utils/util.c and builds
# config space with the engine's pci_config.c and pci_caps.c.
if HAVE_CHECK
check_LTLIBRARIES += tests/harness/libfakevfud.la
tests_harness_libfakevfud_la_SOURCES = \
	tests/harness/fake_vfud.h tests/harness/fake_priv.h \
	tests/harness/fake_dev.c tests/harness/fake_pci.c \
	tests/harness/fake_irq.c tests/harness/fake_dma.c \
	tests/harness/fake_loop.c tests/harness/fake_fixture.c \
	engine/pci_config.c engine/pci_caps.c engine/pci_config.h \
	common/utils/util.c common/utils/util.h
# (own flags: its objects must not be shared with the daemon's)
tests_harness_libfakevfud_la_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_harness_libfakevfud_la_LIBADD = $(LIBS)

# The fake's own test; api-complete.test checks what the program exports.
check_PROGRAMS += tests/harness/test_fake_vfud
TESTS += tests/harness/test_fake_vfud tests/harness/api-complete.test
tests_harness_test_fake_vfud_SOURCES = tests/harness/test_fake_vfud.c
tests_harness_test_fake_vfud_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(FAKE_VFUD_CFLAGS)
tests_harness_test_fake_vfud_LDFLAGS = $(AM_LDFLAGS) $(FAKE_VFUD_LINKFLAGS)
tests_harness_test_fake_vfud_LDADD = $(FAKE_VFUD_LIBS) $(CHECK_LIBS)
endif
EXTRA_DIST += tests/harness/api-complete.test
# Programs using it export the plugin API to the plugins they dlopen(),
# which BUILD_PLUGINDIR finds in the build tree:
FAKE_VFUD_CFLAGS = -I$(top_srcdir)/tests/harness \
	-DBUILD_PLUGINDIR='"$(abs_top_builddir)/plugins/.libs"'
FAKE_VFUD_LINKFLAGS = -Wl,--dynamic-list=$(top_srcdir)/daemon/plugin-api.dynlist
FAKE_VFUD_LIBS = $(top_builddir)/tests/harness/libfakevfud.la
