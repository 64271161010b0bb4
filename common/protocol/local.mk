# SPDX-License-Identifier: BSD-3-Clause
# common/protocol: the vfio-user wire format (message structs, command
# names), shared by the engine and the client library.
PROTOCOL_SOURCES = common/protocol/vfio-user.c common/protocol/vfio-user.h
noinst_LTLIBRARIES += common/protocol/libprotocol.la
common_protocol_libprotocol_la_SOURCES = $(PROTOCOL_SOURCES)
common_protocol_libprotocol_la_CFLAGS = $(AM_CFLAGS)
