/*
 * HAProxy PROXY protocol, versions 1 (text) and 2 (binary), receiving side.
 * Spec: https://www.haproxy.org/download/2.8/doc/proxy-protocol.txt
 *
 * A load balancer in front of us sends one header before the client's
 * first byte, carrying the client's real address. Only listeners configured
 * for it may call this, and only for peers in a trusted network list:
 * anyone else could claim any address.
 *
 * The parser keeps no state between calls. The caller accumulates bytes as
 * they arrive and parses the whole prefix again each time; the header is
 * small and arrives in one segment in practice, so re-reading is cheaper
 * than keeping a state machine in every connection.
 *
 * Accepted: v1 "PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n" with single
 * spaces, numeric addresses of the stated family and decimal ports 0..65535
 * (at most 5 digits), and "PROXY UNKNOWN" followed by anything up to CRLF.
 * v2 with command LOCAL (any address block, ignored) or PROXY over
 * TCP/IPv4, TCP/IPv6, unix stream or UNSPEC. TLVs are skipped unread.
 * Refused: UDP and any family/transport byte the spec does not define.
 */
#ifndef PETREL_COMMON_PROXY_PROTO_H
#define PETREL_COMMON_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Longest header we accept: v1 is at most 107 bytes; for v2 we accept up to
 * 16 + 1024 bytes of address+TLV data and refuse larger ones. */
#define PROXY_MAX_HEADER (16 + 1024)
/* Longest v1 line, CRLF included (spec section 2.1). */
#define PROXY_V1_MAX_LINE 107

struct proxy_info {
	/* v2 LOCAL command, v1 UNKNOWN, or v2 PROXY with an UNSPEC or unix
	 * address block: keep the connection's real addresses. */
	bool local;
	/* Valid when !local: AF_INET or AF_INET6 with address and port. */
	struct sockaddr_storage src, dst;
	socklen_t src_len, dst_len; /* 0 when local */
};

/* Parses a PROXY header at the start of data[0..len); data may be NULL when
 * len is 0. The caller accumulates bytes as they arrive and calls again
 * with the longer buffer.
 * Returns:
 *   0   more bytes are needed. This never happens once len reaches
 *       PROXY_MAX_HEADER, so a caller's buffer of that size is enough.
 *   > 0 the header length; *info_r is filled. Bytes after it belong to the
 *       protocol that follows and were not looked at.
 *   -1  the header is malformed or unsupported; *error_r is set to a
 *       static English message. The connection should be closed.
 * Rejects as early as it can: as soon as the available prefix cannot begin
 * any acceptable header (first byte neither 'P' nor '\r', a v1 field that
 * has gone wrong, a v1 line past 107 bytes without CRLF, a v2 length over
 * 1024), it returns -1 without waiting for more data. A prefix of an
 * acceptable header always gives 0. *info_r is written only on success. */
int proxy_parse(const uint8_t *data, size_t len, struct proxy_info *info_r, const char **error_r);

#endif
