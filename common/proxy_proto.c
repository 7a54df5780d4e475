#include "common/proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "common/buf.h"

/* Spec section 2.2: chosen so that no text protocol starts this way. */
static const uint8_t proxy_v2_signature[12] = {
	'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'
};
#define PROXY_V2_HEADER_LEN 16

enum proxy_v2_command {
	PROXY_V2_CMD_LOCAL = 0x0,
	PROXY_V2_CMD_PROXY = 0x1,
};

/* The 14th byte: address family in the high nibble, transport in the low. */
enum proxy_v2_family {
	PROXY_V2_UNSPEC = 0x00,
	PROXY_V2_TCP4 = 0x11,
	PROXY_V2_UDP4 = 0x12,
	PROXY_V2_TCP6 = 0x21,
	PROXY_V2_UDP6 = 0x22,
	PROXY_V2_UNIX_STREAM = 0x31,
	PROXY_V2_UNIX_DGRAM = 0x32,
};

static inline size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static void fill_sockaddr(struct sockaddr_storage *ss, socklen_t *len_r, int family,
			  const uint8_t *addr, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, 4);
		sin->sin_port = htons(port);
		*len_r = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, 16);
		sin6->sin6_port = htons(port);
		*len_r = sizeof(*sin6);
	}
}

/*
 * Version 1.
 *
 * The line is checked field by field against whatever has arrived. A
 * "partial" line is a prefix still waiting for its CRLF: its last field may
 * be cut short, so that one only has to look like the start of a valid
 * field (right characters, not too long). Every other field must be valid
 * in full. That is what lets garbage fail at the first wrong byte instead
 * of after 107 bytes.
 */
struct v1_line {
	const uint8_t *s;
	size_t n, pos;
	bool partial;
};

/* Takes the bytes up to the next space or the end of the line. Returns true
 * when a space ended the field (the space is consumed). */
static bool v1_take_field(struct v1_line *l, struct span *field_r)
{
	size_t start = l->pos;

	while (l->pos < l->n && l->s[l->pos] != ' ')
		l->pos++;
	*field_r = span_make(l->s + start, l->pos - start);
	if (l->pos == l->n)
		return false;
	l->pos++;
	return true;
}

static bool v1_addr_ok(struct span f, int family, bool complete, uint8_t *addr_r)
{
	char text[INET6_ADDRSTRLEN];
	size_t max = family == AF_INET ? INET_ADDRSTRLEN - 1 : INET6_ADDRSTRLEN - 1;

	if (f.len > max)
		return false;
	for (size_t i = 0; i < f.len; i++) {
		uint8_t c = f.ptr[i];
		bool ok = (c >= '0' && c <= '9') || c == '.';
		if (family == AF_INET6)
			ok = ok || c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		if (!ok)
			return false;
	}
	if (!complete)
		return true;
	memcpy(text, f.ptr, f.len);
	text[f.len] = '\0';
	return inet_pton(family, text, addr_r) == 1;
}

/* 0..65535 in at most 5 digits. A cut-short port over 65535 is already
 * hopeless, since more digits only make it larger. */
static bool v1_port_ok(struct span f, bool complete, uint16_t *port_r)
{
	unsigned value = 0;

	if (f.len > 5 || (complete && f.len == 0))
		return false;
	for (size_t i = 0; i < f.len; i++) {
		if (f.ptr[i] < '0' || f.ptr[i] > '9')
			return false;
		value = value * 10 + (unsigned)(f.ptr[i] - '0');
	}
	if (value > 65535)
		return false;
	*port_r = (uint16_t)value;
	return true;
}

static bool v1_is_proto_prefix(struct span f)
{
	static const char *const protos[] = { "TCP4", "TCP6", "UNKNOWN" };

	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (f.len <= strlen(protos[i]) && memcmp(f.ptr, protos[i], f.len) == 0)
			return true;
	return false;
}

/* Checks s[0..n), the line without CRLF (or the part of it that has arrived
 * when partial). Returns 0 when valid (complete lines fill *info_r), -1 on
 * error. */
static int v1_parse_line(const uint8_t *s, size_t n, bool partial, struct proxy_info *info_r,
			 const char **error_r)
{
	static const char prefix[] = "PROXY ";
	const size_t prefix_len = sizeof(prefix) - 1;
	struct v1_line l = { s, n, prefix_len, partial };
	struct span proto;
	int family;

	if (memcmp(s, prefix, min_size(n, prefix_len)) != 0) {
		*error_r = "not a PROXY protocol header";
		return -1;
	}
	if (n < prefix_len) {
		if (partial)
			return 0;
		*error_r = "truncated PROXY v1 header";
		return -1;
	}
	bool more = v1_take_field(&l, &proto);
	if (!more && partial) {
		if (v1_is_proto_prefix(proto))
			return 0;
		*error_r = "unknown PROXY v1 protocol";
		return -1;
	}
	/* Spec section 2.1: whatever follows UNKNOWN is to be ignored. */
	if (span_eq(proto, "UNKNOWN")) {
		info_r->local = true;
		return 0;
	}
	if (span_eq(proto, "TCP4")) {
		family = AF_INET;
	} else if (span_eq(proto, "TCP6")) {
		family = AF_INET6;
	} else {
		*error_r = "unknown PROXY v1 protocol";
		return -1;
	}
	if (!more) {
		*error_r = "PROXY v1 header lacks addresses";
		return -1;
	}

	uint8_t src[16], dst[16];
	uint16_t sport = 0, dport = 0;
	for (unsigned i = 0; i < 4; i++) {
		struct span f;
		bool spaced = v1_take_field(&l, &f);
		bool complete = spaced || !partial;
		bool last = i == 3;
		bool ok;

		if (i < 2)
			ok = v1_addr_ok(f, family, complete, i == 0 ? src : dst);
		else
			ok = v1_port_ok(f, complete, i == 2 ? &sport : &dport);
		if (!ok) {
			*error_r = i < 2 ? "bad address in PROXY v1 header" :
					   "bad port in PROXY v1 header";
			return -1;
		}
		if (!complete)
			return 0;
		if (last && spaced) {
			*error_r = "unexpected data after ports in PROXY v1 header";
			return -1;
		}
		if (!last && !spaced) {
			*error_r = "PROXY v1 header lacks fields";
			return -1;
		}
	}
	info_r->local = false;
	fill_sockaddr(&info_r->src, &info_r->src_len, family, src, sport);
	fill_sockaddr(&info_r->dst, &info_r->dst_len, family, dst, dport);
	return 0;
}

static int v1_parse(const uint8_t *data, size_t len, struct proxy_info *info_r,
		    const char **error_r)
{
	const uint8_t *lf = memchr(data, '\n', min_size(len, PROXY_V1_MAX_LINE));

	if (lf != NULL) {
		size_t line_len = (size_t)(lf - data) + 1;
		if (line_len < 2 || lf[-1] != '\r') {
			*error_r = "PROXY v1 line ends in LF without CR";
			return -1;
		}
		if (v1_parse_line(data, line_len - 2, false, info_r, error_r) < 0)
			return -1;
		return (int)line_len;
	}
	if (len >= PROXY_V1_MAX_LINE) {
		*error_r = "PROXY v1 line longer than 107 bytes";
		return -1;
	}
	/* A CR at the end must be the one of CRLF, so the line before it must
	 * already be complete. */
	if (data[len - 1] == '\r')
		return v1_parse_line(data, len - 1, false, info_r, error_r) < 0 ? -1 : 0;
	return v1_parse_line(data, len, true, info_r, error_r) < 0 ? -1 : 0;
}

/* Version 2: a fixed 16-byte header, then the address block and TLVs. */
static int v2_parse(const uint8_t *data, size_t len, struct proxy_info *info_r,
		    const char **error_r)
{
	if (memcmp(data, proxy_v2_signature, min_size(len, sizeof(proxy_v2_signature))) != 0) {
		*error_r = "not a PROXY protocol header";
		return -1;
	}
	if (len < 13)
		return 0;
	if ((data[12] >> 4) != 2) {
		*error_r = "unsupported PROXY protocol version";
		return -1;
	}
	unsigned command = data[12] & 0x0f;
	if (command != PROXY_V2_CMD_LOCAL && command != PROXY_V2_CMD_PROXY) {
		*error_r = "unknown PROXY v2 command";
		return -1;
	}
	if (len < 14)
		return 0;

	/* LOCAL (health checks from the proxy itself): the spec says to ignore
	 * the family and skip the block, so only PROXY is checked. */
	size_t addr_len = 0;
	if (command == PROXY_V2_CMD_PROXY) {
		switch (data[13]) {
		case PROXY_V2_UNSPEC:
			addr_len = 0;
			break;
		case PROXY_V2_TCP4:
			addr_len = 4 + 4 + 2 + 2;
			break;
		case PROXY_V2_TCP6:
			addr_len = 16 + 16 + 2 + 2;
			break;
		case PROXY_V2_UNIX_STREAM:
			addr_len = 108 + 108;
			break;
		case PROXY_V2_UDP4:
		case PROXY_V2_UDP6:
		case PROXY_V2_UNIX_DGRAM:
			*error_r = "PROXY v2 datagram transport not supported";
			return -1;
		default:
			*error_r = "unknown PROXY v2 address family";
			return -1;
		}
	}
	if (len < PROXY_V2_HEADER_LEN)
		return 0;

	size_t body_len = ((size_t)data[14] << 8) | data[15];
	if (body_len > PROXY_MAX_HEADER - PROXY_V2_HEADER_LEN) {
		*error_r = "PROXY v2 header too long";
		return -1;
	}
	if (body_len < addr_len) {
		*error_r = "PROXY v2 address block too short";
		return -1;
	}
	size_t total = PROXY_V2_HEADER_LEN + body_len;
	if (len < total)
		return 0;

	const uint8_t *a = data + PROXY_V2_HEADER_LEN;
	info_r->local = true;
	if (command == PROXY_V2_CMD_PROXY && data[13] == PROXY_V2_TCP4) {
		info_r->local = false;
		fill_sockaddr(&info_r->src, &info_r->src_len, AF_INET, a,
			      (uint16_t)(a[8] << 8 | a[9]));
		fill_sockaddr(&info_r->dst, &info_r->dst_len, AF_INET, a + 4,
			      (uint16_t)(a[10] << 8 | a[11]));
	} else if (command == PROXY_V2_CMD_PROXY && data[13] == PROXY_V2_TCP6) {
		info_r->local = false;
		fill_sockaddr(&info_r->src, &info_r->src_len, AF_INET6, a,
			      (uint16_t)(a[32] << 8 | a[33]));
		fill_sockaddr(&info_r->dst, &info_r->dst_len, AF_INET6, a + 16,
			      (uint16_t)(a[34] << 8 | a[35]));
	}
	/* Unix peers stay local: their paths mean nothing to us. */
	return (int)total;
}

int proxy_parse(const uint8_t *data, size_t len, struct proxy_info *info_r, const char **error_r)
{
	struct proxy_info info = { 0 };
	int ret;

	if (len == 0)
		return 0;
	if (data == NULL) {
		*error_r = "no data";
		return -1;
	}
	/* Parse into a local copy so a prefix never touches *info_r. */
	if (data[0] == 'P') {
		ret = v1_parse(data, len, &info, error_r);
	} else if (data[0] == '\r') {
		ret = v2_parse(data, len, &info, error_r);
	} else {
		*error_r = "not a PROXY protocol header";
		return -1;
	}
	if (ret > 0)
		*info_r = info;
	return ret;
}
