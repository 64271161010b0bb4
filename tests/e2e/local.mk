# SPDX-License-Identifier: BSD-3-Clause
# tests/e2e: end-to-end tests with a real guest.  Each test boots the QEMU
# lab (tests/e2e/lab/setup builds it, tests/e2e/lab/run boots it) against the
# daemon and plugins of this build, and skips with exit 77 and a message
# when there is no lab with QEMU >= 10.1 ($VFU_LAB, default /var/tmp/vfu-lab).
# See tests/e2e/lib.sh.
E2E_TESTS = \
	tests/e2e/gpio.test \
	tests/e2e/testdev-dma-shared.test \
	tests/e2e/testdev-dma-messages.test \
	tests/e2e/testdev-reset.test \
	tests/e2e/lab-boot-retry.test \
	tests/e2e/systemd-libvirt.test \
	tests/e2e/systemd-guest-restart.test \
	tests/e2e/python-idio16.test \
	tests/e2e/python-dma.test \
	tests/e2e/memory-ram.test \
	tests/e2e/memory-memfd.test \
	tests/e2e/memory-memfd-private.test \
	tests/e2e/memory-file.test \
	tests/e2e/memory-file-private.test
TESTS += $(E2E_TESTS)
EXTRA_DIST += $(E2E_TESTS) tests/e2e/lib.sh tests/e2e/guest-memory.sh \
	tests/e2e/lab/setup tests/e2e/lab/run tests/e2e/man-block
# systemd-libvirt.test and systemd-guest-restart.test build this tree for
# --prefix=/usr here, once (under usr-build.lock).
clean-local: clean-e2e-usr-build
clean-e2e-usr-build:
	rm -rf tests/e2e/usr-build tests/e2e/usr-build.lock
.PHONY: clean-e2e-usr-build

# Programs run inside the guest, whose initramfs has no C library: linked
# statically (libtool's -all-static), and without AM_CFLAGS/AM_LDFLAGS,
# whose sanitizers would need shared runtime libraries.
check_PROGRAMS += tests/e2e/guest/vfu-gpio tests/e2e/guest/vfu-testdev
E2E_GUEST_COMPILE = -std=gnu11 $(WARN_CFLAGS)
E2E_GUEST_LINK = -all-static
tests_e2e_guest_vfu_gpio_SOURCES = tests/e2e/guest/vfu-gpio.c
tests_e2e_guest_vfu_gpio_CFLAGS = $(E2E_GUEST_COMPILE)
tests_e2e_guest_vfu_gpio_LDFLAGS = $(E2E_GUEST_LINK)
tests_e2e_guest_vfu_testdev_SOURCES = tests/e2e/guest/vfu-testdev.c
tests_e2e_guest_vfu_testdev_CFLAGS = $(E2E_GUEST_COMPILE)
tests_e2e_guest_vfu_testdev_LDFLAGS = $(E2E_GUEST_LINK)
