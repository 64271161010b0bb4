# SPDX-License-Identifier: BSD-3-Clause
# testdev: the test-suite's device, and broken plugins for loader tests.
# All are check-only modules: "-rpath /nowhere" makes libtool build shared
# objects although nothing is installed.  They land in plugins/.libs/.
TESTDEV_LINK_FLAGS = -rpath /nowhere $(PLUGIN_LINK_FLAGS)

check_LTLIBRARIES += plugins/testdev.la
plugins_testdev_la_SOURCES = plugins/testdev/testdev.c
plugins_testdev_la_LDFLAGS = $(TESTDEV_LINK_FLAGS)

# A device model that attacks its host on command (tests/ops/test_sandbox).
check_LTLIBRARIES += plugins/hostile.la
plugins_hostile_la_SOURCES = plugins/testdev/hostile.c
plugins_hostile_la_LDFLAGS = $(TESTDEV_LINK_FLAGS)

check_LTLIBRARIES += plugins/bad_abi.la plugins/bad_noreal.la plugins/bad_nosym.la
plugins_bad_abi_la_SOURCES = plugins/testdev/bad_abi.c
plugins_bad_abi_la_LDFLAGS = $(TESTDEV_LINK_FLAGS)
plugins_bad_noreal_la_SOURCES = plugins/testdev/bad_noreal.c
plugins_bad_noreal_la_LDFLAGS = $(TESTDEV_LINK_FLAGS)
# No version script: it would name a symbol this object lacks on purpose.
plugins_bad_nosym_la_SOURCES = plugins/testdev/bad_nosym.c
plugins_bad_nosym_la_LDFLAGS = -rpath /nowhere -module -avoid-version -shared
