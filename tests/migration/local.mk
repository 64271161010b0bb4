# SPDX-License-Identifier: BSD-3-Clause
# tests/migration: migration v2 against the built daemon, between two
# daemons (each test starts its own), with the test client and the
# migration tool.  "make check-migration-valgrind" runs them with the
# daemons under valgrind.

# The tool as a program (vfiouserctl migrate calls the same function).
check_PROGRAMS += tests/migration/vfud-migrate
tests_migration_vfud_migrate_SOURCES = tests/migration/vfud_migrate.c \
	tools/ctl_migrate.c tools/ctl_migrate.h
tests_migration_vfud_migrate_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/common/client \
	-I$(top_srcdir)/tools
tests_migration_vfud_migrate_CFLAGS = $(AM_CFLAGS) $(GLIB_CFLAGS)
tests_migration_vfud_migrate_LDADD = common/client/libvfuclient.la $(GLIB_LIBS) $(JSONC_LIBS)

# Test plugins: one source, three builds (see migtoy.c); loaded by path.
MIGTOY_LINK_FLAGS = -rpath /nowhere $(PLUGIN_LINK_FLAGS)
check_LTLIBRARIES += tests/migration/migtoy_v1.la tests/migration/migtoy_v2.la \
	tests/migration/nomig.la
tests_migration_migtoy_v1_la_SOURCES = tests/migration/migtoy.c
tests_migration_migtoy_v1_la_CPPFLAGS = $(AM_CPPFLAGS) -DMIGTOY_VERSION=1
tests_migration_migtoy_v1_la_LDFLAGS = $(MIGTOY_LINK_FLAGS)
tests_migration_migtoy_v2_la_SOURCES = tests/migration/migtoy.c
tests_migration_migtoy_v2_la_CPPFLAGS = $(AM_CPPFLAGS) -DMIGTOY_VERSION=2
tests_migration_migtoy_v2_la_LDFLAGS = $(MIGTOY_LINK_FLAGS)
tests_migration_nomig_la_SOURCES = tests/migration/migtoy.c
tests_migration_nomig_la_CPPFLAGS = $(AM_CPPFLAGS) -DMIGTOY_VERSION=0
tests_migration_nomig_la_LDFLAGS = $(MIGTOY_LINK_FLAGS)

if HAVE_CHECK
MIG_TESTS = \
	tests/migration/test_dma_log \
	tests/migration/test_features \
	tests/migration/test_states \
	tests/migration/test_dirty \
	tests/migration/test_stream \
	tests/migration/test_migrate \
	tests/migration/test_tool
check_PROGRAMS += $(MIG_TESTS)
TESTS += $(MIG_TESTS)

check_LTLIBRARIES += tests/migration/libmigtest.la
tests_migration_libmigtest_la_SOURCES = tests/migration/migtest.c \
	tests/migration/migtest.h tools/ctl_migrate.c tools/ctl_migrate.h
tests_migration_libmigtest_la_CPPFLAGS = $(MIG_CPPFLAGS)
tests_migration_libmigtest_la_CFLAGS = $(MIG_CFLAGS)

MIG_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/tests/common \
	-I$(top_srcdir)/common/client -I$(top_srcdir)/tests/protocol \
	-I$(top_srcdir)/tools -DMT_BUILDDIR='"$(abs_top_builddir)"'
MIG_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GLIB_CFLAGS) $(JSONC_CFLAGS)
MIG_LDADD = tests/migration/libmigtest.la tests/protocol/libproto.la \
	tests/common/libharness.la common/client/libvfuclient.la \
	$(JSONC_LIBS) $(GLIB_LIBS) $(CHECK_LIBS)
MIG_DEPS = daemon/vfiouserd plugins/testdev.la plugins/gpio.la \
	tests/migration/migtoy_v1.la tests/migration/migtoy_v2.la \
	tests/migration/nomig.la tests/migration/vfud-migrate

# The dirty-page log alone, built from the daemon's source.
tests_migration_test_dma_log_SOURCES = tests/migration/test_dma_log.c \
	engine/dma_log.c engine/dma_log.h
tests_migration_test_dma_log_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GLIB_CFLAGS)
tests_migration_test_dma_log_LDADD = $(GLIB_LIBS) $(CHECK_LIBS)

tests_migration_test_features_SOURCES = tests/migration/test_features.c
tests_migration_test_features_CPPFLAGS = $(MIG_CPPFLAGS)
tests_migration_test_features_CFLAGS = $(MIG_CFLAGS)
tests_migration_test_features_LDADD = $(MIG_LDADD)
EXTRA_tests_migration_test_features_DEPENDENCIES = $(MIG_DEPS)

tests_migration_test_states_SOURCES = tests/migration/test_states.c
tests_migration_test_states_CPPFLAGS = $(MIG_CPPFLAGS)
tests_migration_test_states_CFLAGS = $(MIG_CFLAGS)
tests_migration_test_states_LDADD = $(MIG_LDADD)
EXTRA_tests_migration_test_states_DEPENDENCIES = $(MIG_DEPS)

tests_migration_test_dirty_SOURCES = tests/migration/test_dirty.c
tests_migration_test_dirty_CPPFLAGS = $(MIG_CPPFLAGS)
tests_migration_test_dirty_CFLAGS = $(MIG_CFLAGS)
tests_migration_test_dirty_LDADD = $(MIG_LDADD)
EXTRA_tests_migration_test_dirty_DEPENDENCIES = $(MIG_DEPS)

tests_migration_test_stream_SOURCES = tests/migration/test_stream.c
tests_migration_test_stream_CPPFLAGS = $(MIG_CPPFLAGS)
tests_migration_test_stream_CFLAGS = $(MIG_CFLAGS)
tests_migration_test_stream_LDADD = $(MIG_LDADD)
EXTRA_tests_migration_test_stream_DEPENDENCIES = $(MIG_DEPS)

tests_migration_test_migrate_SOURCES = tests/migration/test_migrate.c
tests_migration_test_migrate_CPPFLAGS = $(MIG_CPPFLAGS)
tests_migration_test_migrate_CFLAGS = $(MIG_CFLAGS)
tests_migration_test_migrate_LDADD = $(MIG_LDADD)
EXTRA_tests_migration_test_migrate_DEPENDENCIES = $(MIG_DEPS)

tests_migration_test_tool_SOURCES = tests/migration/test_tool.c
tests_migration_test_tool_CPPFLAGS = $(MIG_CPPFLAGS)
tests_migration_test_tool_CFLAGS = $(MIG_CFLAGS)
tests_migration_test_tool_LDADD = $(MIG_LDADD)
EXTRA_tests_migration_test_tool_DEPENDENCIES = $(MIG_DEPS)

# The daemons under valgrind: an error or a definite leak makes one exit
# 99, which fails the test that stopped it.
check-migration-valgrind: $(MIG_TESTS) $(MIG_DEPS)
	@test -n "$(VALGRIND)" || { echo "valgrind not found"; exit 77; }
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(MIG_TESTS)' CK_TIMEOUT_MULTIPLIER=10 \
		VFIOUSERD_WRAPPER="$(VALGRIND) --error-exitcode=99 -q --leak-check=full --errors-for-leak-kinds=definite"
.PHONY: check-migration-valgrind
endif
