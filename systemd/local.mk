# SPDX-License-Identifier: BSD-3-Clause
# systemd units and the sysusers.d entry for the user they run as.
#
# The .in files are filled in by make, not by configure: only make expands
# the directories fully ($(sbindir) is "${exec_prefix}/sbin" in configure
# output), and "make prefix=..." must still be honoured.
EXTRA_DIST += \
	systemd/vfiouserd.service.in \
	systemd/vfiouserd@.service.in \
	systemd/vfiouserd@.socket.in \
	systemd/vfiouserd.sysusers.in

SYSTEMD_GENERATED = \
	systemd/vfiouserd.service \
	systemd/vfiouserd@.service \
	systemd/vfiouserd@.socket \
	systemd/sysusers.d/vfiouserd.conf
CLEANFILES += $(SYSTEMD_GENERATED)

systemd_edit = $(SED) \
	-e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@vfud_user[@]|$(vfud_user)|g'
# $(1): the .in file.  Refuses output that still holds an @variable@.
systemd_generate = $(MKDIR_P) $(@D) && rm -f '$@' '$@.tmp' && \
	$(systemd_edit) '$(srcdir)/$(1)' > '$@.tmp' && \
	if grep -n '@[a-z_]*@' '$@.tmp' >&2; then \
		echo "$@: unsubstituted variable" >&2; rm -f '$@.tmp'; exit 1; \
	fi && mv '$@.tmp' '$@'

systemd/vfiouserd.service: systemd/vfiouserd.service.in Makefile
	$(AM_V_GEN)$(call systemd_generate,systemd/vfiouserd.service.in)
systemd/vfiouserd@.service: systemd/vfiouserd@.service.in Makefile
	$(AM_V_GEN)$(call systemd_generate,systemd/vfiouserd@.service.in)
systemd/vfiouserd@.socket: systemd/vfiouserd@.socket.in Makefile
	$(AM_V_GEN)$(call systemd_generate,systemd/vfiouserd@.socket.in)
# Generated into a sysusers.d/ directory so that it installs under the name
# systemd-sysusers expects without an install hook.
systemd/sysusers.d/vfiouserd.conf: systemd/vfiouserd.sysusers.in Makefile
	$(AM_V_GEN)$(call systemd_generate,systemd/vfiouserd.sysusers.in)

if HAVE_SYSTEMD_UNITDIR
systemdsystemunit_DATA = systemd/vfiouserd.service systemd/vfiouserd@.service \
	systemd/vfiouserd@.socket

# Beside the unit dir of a /usr install: $(prefix)/lib, not $(libdir)
# (which is lib/x86_64-linux-gnu on Debian).
sysusersdir = $(prefix)/lib/sysusers.d
sysusers_DATA = systemd/sysusers.d/vfiouserd.conf
endif
