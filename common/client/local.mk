# SPDX-License-Identifier: BSD-3-Clause
# common/client: the vfio-user client library, linked by vfiouserctl
# (migrate), the tests and the benchmarks (noinst: never installed on its
# own).  Users add -I$(top_srcdir)/common/client and link libvfuclient.la.
noinst_LTLIBRARIES += common/client/libvfuclient.la
common_client_libvfuclient_la_SOURCES = \
	common/client/vfu_client.h \
	common/client/vfu_client_priv.h \
	common/client/vfu_client.c \
	common/client/vfu_client_io.c \
	common/client/vfu_client_mem.c \
	common/client/vfu_client_cmd.c
common_client_libvfuclient_la_CFLAGS = $(AM_CFLAGS) $(JSONC_CFLAGS)
common_client_libvfuclient_la_LIBADD = common/protocol/libprotocol.la $(JSONC_LIBS)
