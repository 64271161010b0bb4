# SPDX-License-Identifier: BSD-3-Clause
# tests/unit: Check-based unit tests, one program per module.
if HAVE_CHECK

# PCI configuration space emulation, built from its sources alone.
check_PROGRAMS += tests/unit/test_pci_config
TESTS += tests/unit/test_pci_config
tests_unit_test_pci_config_SOURCES = tests/unit/test_pci_config.c \
	engine/pci_config.c engine/pci_caps.c engine/pci_config.h
tests_unit_test_pci_config_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_pci_config_LDADD = $(CHECK_LIBS)

# Calls into a device thread (engine/device_call.c), on real device threads.
check_PROGRAMS += tests/unit/test_device_call
TESTS += tests/unit/test_device_call
tests_unit_test_device_call_SOURCES = tests/unit/test_device_call.c
tests_unit_test_device_call_CPPFLAGS = $(ENGINE_CPPFLAGS)
tests_unit_test_device_call_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GLIB_CFLAGS) \
	$(JSONC_CFLAGS)
tests_unit_test_device_call_LDADD = $(ENGINE_LIBS) $(CHECK_LIBS)

# SCM_RIGHTS fds out of a received message (common/utils).
check_PROGRAMS += tests/unit/test_util_cmsg
TESTS += tests/unit/test_util_cmsg
tests_unit_test_util_cmsg_SOURCES = tests/unit/test_util_cmsg.c
tests_unit_test_util_cmsg_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GLIB_CFLAGS)
tests_unit_test_util_cmsg_LDADD = common/utils/libutils.la $(GLIB_LIBS) $(CHECK_LIBS)

# How a peer's pid is worded (common/utils).
check_PROGRAMS += tests/unit/test_util_pid
TESTS += tests/unit/test_util_pid
tests_unit_test_util_pid_SOURCES = tests/unit/test_util_pid.c
tests_unit_test_util_pid_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_util_pid_LDADD = common/utils/libutils.la $(GLIB_LIBS) $(CHECK_LIBS)

# The isolated device's fd store (daemon/isolate_store.c) from its source
# alone: what it takes for a file kept already.
check_PROGRAMS += tests/unit/test_isolate_store
TESTS += tests/unit/test_isolate_store
tests_unit_test_isolate_store_SOURCES = tests/unit/test_isolate_store.c \
	daemon/isolate_store.c daemon/isolate_store.h
tests_unit_test_isolate_store_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GLIB_CFLAGS) \
	$(JSONC_CFLAGS) $(SECCOMP_CFLAGS)
tests_unit_test_isolate_store_LDADD = common/utils/libutils.la $(GLIB_LIBS) \
	$(JSONC_LIBS) $(SECCOMP_LIBS) $(CHECK_LIBS)

endif
