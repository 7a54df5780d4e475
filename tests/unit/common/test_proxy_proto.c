/*
 * Unit tests for common/proxy_proto.
 *
 * Every valid header is parsed whole, with protocol bytes after it, and at
 * every split point. Every invalid one states the exact prefix length at
 * which it must be refused: shorter prefixes must still ask for more, and
 * every longer one must be refused too. Each prefix is copied to a heap
 * buffer of exactly that size, so a read past the end trips ASan.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "common/proxy_proto.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define V2_SIG "\r\n\r\n\0\r\nQUIT\n"
/* A string literal and its length, NULs included. */
#define LIT(s) (const uint8_t *)(s), sizeof(s) - 1

/* Parses data[0..len) from a heap copy of exactly len bytes. */
static int parse_exact(const uint8_t *data, size_t len, struct proxy_info *info_r,
		       const char **error_r)
{
	uint8_t *copy = NULL;

	if (len > 0) {
		copy = malloc(len);
		assert_non_null(copy);
		memcpy(copy, data, len);
	}
	int ret = proxy_parse(copy, len, info_r, error_r);
	free(copy);
	return ret;
}

/* Writes a v2 header: signature, the two command bytes, then `declared` as
 * the length, then body_len bytes of body followed by pad zero bytes. */
static size_t build_v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, size_t declared,
		       const char *body, size_t body_len, size_t pad)
{
	memcpy(out, V2_SIG, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(declared >> 8);
	out[15] = (uint8_t)declared;
	if (body_len > 0)
		memcpy(out + 16, body, body_len);
	memset(out + 16 + body_len, 0, pad);
	return 16 + body_len + pad;
}

struct valid_case {
	const char *name;
	const char *v1; /* the v1 line, or NULL for v2 */
	uint8_t ver_cmd, fam;
	const char *body; /* v2 address block and TLVs */
	size_t body_len, pad;
	bool local;
	int family;
	const char *src, *dst;
	uint16_t sport, dport;
};

#define BODY(s) .body = (s), .body_len = sizeof(s) - 1
#define V6_DB8(last) "\x20\x01\x0d\xb8" "\0\0\0\0" "\0\0\0\0" "\0\0\0" last

static const struct valid_case valid_cases[] = {
	{ .name = "v1 tcp4", .v1 = "PROXY TCP4 192.0.2.1 198.51.100.2 54321 143\r\n",
	  .family = AF_INET, .src = "192.0.2.1", .dst = "198.51.100.2", .sport = 54321, .dport = 143 },
	{ .name = "v1 tcp4 extremes", .v1 = "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n",
	  .family = AF_INET, .src = "0.0.0.0", .dst = "255.255.255.255", .sport = 0, .dport = 65535 },
	{ .name = "v1 tcp4 leading zeros in ports", .v1 = "PROXY TCP4 10.0.0.1 10.0.0.2 08 00143\r\n",
	  .family = AF_INET, .src = "10.0.0.1", .dst = "10.0.0.2", .sport = 8, .dport = 143 },
	{ .name = "v1 tcp6", .v1 = "PROXY TCP6 2001:db8::1 2001:db8::2 40000 993\r\n",
	  .family = AF_INET6, .src = "2001:db8::1", .dst = "2001:db8::2", .sport = 40000, .dport = 993 },
	{ .name = "v1 tcp6 mapped", .v1 = "PROXY TCP6 ::ffff:192.0.2.1 ::1 1 110\r\n",
	  .family = AF_INET6, .src = "::ffff:192.0.2.1", .dst = "::1", .sport = 1, .dport = 110 },
	{ .name = "v1 tcp6 upper case", .v1 = "PROXY TCP6 2001:DB8::A 2001:db8::b 1 2\r\n",
	  .family = AF_INET6, .src = "2001:db8::a", .dst = "2001:db8::b", .sport = 1, .dport = 2 },
	{ .name = "v1 tcp6 longest",
	  .v1 = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n",
	  .family = AF_INET6, .src = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	  .dst = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", .sport = 65535, .dport = 65535 },
	{ .name = "v1 unknown", .v1 = "PROXY UNKNOWN\r\n", .local = true },
	/* The spec's worst case: exactly 107 bytes. */
	{ .name = "v1 unknown longest",
	  .v1 = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	  .local = true },
	{ .name = "v1 unknown with junk", .v1 = "PROXY UNKNOWN whatever\r junk\r\n", .local = true },

	{ .name = "v2 tcp4", .ver_cmd = 0x21, .fam = 0x11,
	  BODY("\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xd4\x31" "\x00\x8f"),
	  .family = AF_INET, .src = "192.0.2.1", .dst = "198.51.100.2", .sport = 54321, .dport = 143 },
	{ .name = "v2 tcp4 tlvs", .ver_cmd = 0x21, .fam = 0x11,
	  BODY("\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xd4\x31" "\x00\x8f"
	       "\x04\x00\x03" "abc" "\x01\x00\x04" "imap"),
	  .family = AF_INET, .src = "192.0.2.1", .dst = "198.51.100.2", .sport = 54321, .dport = 143 },
	{ .name = "v2 tcp4 largest", .ver_cmd = 0x21, .fam = 0x11,
	  BODY("\x0a\x00\x00\x01" "\x0a\x00\x00\x02" "\xff\xff" "\x00\x00"), .pad = 1024 - 12,
	  .family = AF_INET, .src = "10.0.0.1", .dst = "10.0.0.2", .sport = 65535, .dport = 0 },
	{ .name = "v2 tcp6 tlv", .ver_cmd = 0x21, .fam = 0x21,
	  BODY(V6_DB8("\x01") V6_DB8("\x02") "\x9c\x40" "\x03\xe1" "\x04\x00\x00"),
	  .family = AF_INET6, .src = "2001:db8::1", .dst = "2001:db8::2", .sport = 40000, .dport = 993 },
	{ .name = "v2 unix", .ver_cmd = 0x21, .fam = 0x31,
	  BODY("/run/haproxy.sock"), .pad = 216 - 17, .local = true },
	{ .name = "v2 unix tlvs", .ver_cmd = 0x21, .fam = 0x31, .pad = 216 + 14, .local = true },
	{ .name = "v2 unspec", .ver_cmd = 0x21, .fam = 0x00, .local = true },
	{ .name = "v2 unspec tlvs", .ver_cmd = 0x21, .fam = 0x00, BODY("\x04\x00\x02" "ab"),
	  .local = true },
	{ .name = "v2 local", .ver_cmd = 0x20, .fam = 0x00, .local = true },
	{ .name = "v2 local tcp4 block ignored", .ver_cmd = 0x20, .fam = 0x11,
	  BODY("\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xd4\x31" "\x00\x8f"), .local = true },
	{ .name = "v2 local udp family ignored", .ver_cmd = 0x20, .fam = 0x12, BODY("abcd"),
	  .local = true },
	{ .name = "v2 local odd family ignored", .ver_cmd = 0x20, .fam = 0xff, .local = true },
	{ .name = "v2 local largest", .ver_cmd = 0x20, .fam = 0x00, .pad = 1024, .local = true },
};

static size_t valid_bytes(const struct valid_case *c, uint8_t *out)
{
	if (c->v1 != NULL) {
		memcpy(out, c->v1, strlen(c->v1));
		return strlen(c->v1);
	}
	return build_v2(out, c->ver_cmd, c->fam, c->body_len + c->pad, c->body, c->body_len,
			c->pad);
}

static void check_addr(const struct sockaddr_storage *ss, socklen_t len, int family,
		       const char *text, uint16_t port)
{
	uint8_t want[16];

	assert_int_equal(ss->ss_family, family);
	assert_int_equal(inet_pton(family, text, want), 1);
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		assert_int_equal(len, sizeof(*sin));
		assert_memory_equal(&sin->sin_addr, want, 4);
		assert_int_equal(ntohs(sin->sin_port), port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		assert_int_equal(len, sizeof(*sin6));
		assert_memory_equal(&sin6->sin6_addr, want, 16);
		assert_int_equal(ntohs(sin6->sin6_port), port);
	}
}

static void check_info(const struct valid_case *c, const struct proxy_info *info)
{
	assert_int_equal(info->local, c->local);
	if (c->local) {
		assert_int_equal(info->src_len, 0);
		assert_int_equal(info->dst_len, 0);
		return;
	}
	check_addr(&info->src, info->src_len, c->family, c->src, c->sport);
	check_addr(&info->dst, info->dst_len, c->family, c->dst, c->dport);
}

static void test_valid_whole(void **state)
{
	uint8_t buf[PROXY_MAX_HEADER + 64];

	for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		size_t n = valid_bytes(c, buf);
		struct proxy_info info;
		const char *error = NULL;

		assert_true(n <= PROXY_MAX_HEADER);
		int ret = parse_exact(buf, n, &info, &error);
		if (ret != (int)n)
			fail_msg("%s: got %d, want %zu (%s)", c->name, ret, n,
				 error != NULL ? error : "-");
		check_info(c, &info);
	}
}

/* What follows the header is the client's: it is neither read nor counted,
 * even when it looks like another header. */
static void test_valid_trailing(void **state)
{
	static const struct {
		const uint8_t *data;
		size_t len;
	} trailers[] = {
		{ LIT("a001 CAPABILITY\r\n") },
		{ LIT("PROXY TCP4 6.6.6.6 7.7.7.7 1 2\r\n") },
		{ LIT(V2_SIG "\x21") },
		{ LIT("\x16\x03\x01\x02\x00") },
		{ LIT("\n") },
	};
	uint8_t buf[PROXY_MAX_HEADER + 64];

	for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		size_t n = valid_bytes(c, buf);

		for (size_t t = 0; t < ARRAY_SIZE(trailers); t++) {
			struct proxy_info info;
			const char *error = NULL;

			memcpy(buf + n, trailers[t].data, trailers[t].len);
			int ret = parse_exact(buf, n + trailers[t].len, &info, &error);
			if (ret != (int)n)
				fail_msg("%s + trailer %zu: got %d, want %zu", c->name, t, ret, n);
			check_info(c, &info);
		}
	}
}

/* Every proper prefix asks for more and leaves *info_r alone. */
static void test_valid_split(void **state)
{
	uint8_t buf[PROXY_MAX_HEADER + 64];

	for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		size_t n = valid_bytes(c, buf);

		for (size_t k = 0; k < n; k++) {
			struct proxy_info info, untouched;
			const char *error = NULL;

			memset(&info, 0xa5, sizeof(info));
			memcpy(&untouched, &info, sizeof(info));
			int ret = parse_exact(buf, k, &info, &error);
			if (ret != 0)
				fail_msg("%s: prefix %zu/%zu gave %d (%s)", c->name, k, n, ret,
					 error != NULL ? error : "-");
			assert_memory_equal(&info, &untouched, sizeof(info));
		}
	}
}

struct invalid_case {
	const char *name;
	const uint8_t *data;
	size_t len;
	size_t reject_at; /* first prefix length that must give -1 */
};

#define INVALID(n, s, at) { n, LIT(s), at }
#define V2_TCP4_BODY "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xd4\x31" "\x00\x8f"
#define V1_TCP4_HEAD "PROXY TCP4 192.0.2.1 198.51.100.2 "

static const struct invalid_case invalid_cases[] = {
	INVALID("http", "GET / HTTP/1.1\r\n", 1),
	INVALID("imap", "a001 LOGIN user pass\r\n", 1),
	INVALID("tls", "\x16\x03\x01\x02\x00\x01", 1),
	INVALID("nul", "\0PROXY", 1),
	INVALID("lower case", "proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n", 1),
	INVALID("PROXX", "PROXX TCP4 192.0.2.1 198.51.100.2 1 2\r\n", 5),
	INVALID("no space after PROXY", "PROXYTCP4 192.0.2.1 198.51.100.2 1 2\r\n", 6),
	INVALID("TCP5", "PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n", 10),
	INVALID("tcp4 lower case", "PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n", 7),
	INVALID("double space before proto", "PROXY  TCP4 192.0.2.1 198.51.100.2 1 2\r\n", 7),
	INVALID("empty proto", "PROXY \r\n", 7),
	INVALID("UNKNOWN then CR", "PROXY UNKNOWN\r\r\n", 15),
	INVALID("UNKNOWNX", "PROXY UNKNOWNX\r\n", 14),
	INVALID("tcp4 no addresses", "PROXY TCP4\r\n", 11),
	INVALID("tcp4 empty address", "PROXY TCP4 \r\n", 12),
	INVALID("double space between addresses", "PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n", 22),
	INVALID("octet 256", "PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n", 23),
	INVALID("trailing dot", "PROXY TCP4 192.0.2.1. 198.51.100.2 1 2\r\n", 22),
	INVALID("ipv6 in tcp4", "PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n", 16),
	INVALID("ipv4 in tcp6", "PROXY TCP6 192.0.2.1 198.51.100.2 1 2\r\n", 21),
	INVALID("bad hex in tcp6", "PROXY TCP6 2001:db8::g 2001:db8::2 1 2\r\n", 22),
	INVALID("long ipv4 field", "PROXY TCP4 1111111111111111 2.2.2.2 1 2\r\n", 27),
	INVALID("nul in address", "PROXY TCP4 192.0\0.2.1 198.51.100.2 1 2\r\n", 17),
	INVALID("port 65536", V1_TCP4_HEAD "65536 143\r\n", 39),
	INVALID("port six digits", V1_TCP4_HEAD "000001 143\r\n", 40),
	INVALID("port plus", V1_TCP4_HEAD "+143 143\r\n", 35),
	INVALID("port minus", V1_TCP4_HEAD "-1 143\r\n", 35),
	INVALID("port hex", V1_TCP4_HEAD "0x8f 143\r\n", 36),
	INVALID("empty port", V1_TCP4_HEAD " 143\r\n", 35),
	INVALID("missing dport", V1_TCP4_HEAD "54321\r\n", 40),
	INVALID("space after dport", V1_TCP4_HEAD "54321 143 \r\n", 44),
	INVALID("extra field", V1_TCP4_HEAD "1 2 3\r\n", 38),
	INVALID("LF without CR", "PROXY UNKNOWN\n", 14),
	INVALID("tcp4 LF without CR", V1_TCP4_HEAD "1 2\n", 38),
	INVALID("CR CR LF", V1_TCP4_HEAD "1 2\r\r\n", 39),
	INVALID("tab separator", "PROXY TCP4\t192.0.2.1 198.51.100.2 1 2\r\n", 11),

	INVALID("crlf then junk", "\r\nX", 3),
	INVALID("cr cr", "\r\r", 2),
	INVALID("v2 bad signature end", "\r\n\r\n\0\r\nQUIT\r", 12),
	INVALID("v2 lower case quit", "\r\n\r\n\0\r\nquit\n", 8),
	INVALID("v2 missing nul", "\r\n\r\n\r\nQUIT\n", 5),
	INVALID("v2 version 1", V2_SIG "\x11\x11\x00\x0c" V2_TCP4_BODY, 13),
	INVALID("v2 version 0", V2_SIG "\x01\x11\x00\x0c" V2_TCP4_BODY, 13),
	INVALID("v2 version 3", V2_SIG "\x31\x11\x00\x0c" V2_TCP4_BODY, 13),
	INVALID("v2 command 2", V2_SIG "\x22\x11\x00\x0c" V2_TCP4_BODY, 13),
	INVALID("v2 command 15", V2_SIG "\x2f\x11\x00\x0c" V2_TCP4_BODY, 13),
	INVALID("v2 udp4", V2_SIG "\x21\x12\x00\x0c" V2_TCP4_BODY, 14),
	INVALID("v2 udp6", V2_SIG "\x21\x22\x00\x24", 14),
	INVALID("v2 unix dgram", V2_SIG "\x21\x32\x00\xd8", 14),
	INVALID("v2 family 4", V2_SIG "\x21\x41\x00\x0c" V2_TCP4_BODY, 14),
	INVALID("v2 inet no transport", V2_SIG "\x21\x10\x00\x0c" V2_TCP4_BODY, 14),
	INVALID("v2 inet transport 3", V2_SIG "\x21\x13\x00\x0c" V2_TCP4_BODY, 14),
	INVALID("v2 unspec family stream", V2_SIG "\x21\x01\x00\x00", 14),
	INVALID("v2 length 1025", V2_SIG "\x21\x11\x04\x01" V2_TCP4_BODY, 16),
	INVALID("v2 length 65535", V2_SIG "\x21\x11\xff\xff" V2_TCP4_BODY, 16),
	INVALID("v2 local length 1025", V2_SIG "\x20\x00\x04\x01", 16),
	INVALID("v2 tcp4 block short", V2_SIG "\x21\x11\x00\x0b" V2_TCP4_BODY, 16),
	INVALID("v2 tcp4 block empty", V2_SIG "\x21\x11\x00\x00" "\x00\x8f", 16),
	INVALID("v2 tcp6 block short", V2_SIG "\x21\x21\x00\x23", 16),
	INVALID("v2 unix block short", V2_SIG "\x21\x31\x00\xd7", 16),
};

static void test_invalid(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(invalid_cases); i++) {
		const struct invalid_case *c = &invalid_cases[i];

		assert_true(c->reject_at <= c->len);
		for (size_t k = 0; k <= c->len; k++) {
			struct proxy_info info, untouched;
			const char *error = NULL;
			int want = k < c->reject_at ? 0 : -1;

			memset(&info, 0x5a, sizeof(info));
			memcpy(&untouched, &info, sizeof(info));
			int ret = parse_exact(c->data, k, &info, &error);
			if (ret != want)
				fail_msg("%s: prefix %zu/%zu gave %d, want %d (%s)", c->name, k,
					 c->len, ret, want, error != NULL ? error : "-");
			if (ret < 0) {
				assert_non_null(error);
				assert_true(strlen(error) > 0);
			}
			assert_memory_equal(&info, &untouched, sizeof(info));
		}
	}
}

/* Headers cut short stay "need more" for as long as the caller likes to
 * wait; the caller's timeout, not the parser, ends them. */
static void test_truncated(void **state)
{
	static const struct {
		const uint8_t *data;
		size_t len;
	} cases[] = {
		{ LIT("P") },
		{ LIT("PROXY") },
		{ LIT("PROXY TCP") },
		{ LIT("PROXY TCP4 192.0.2.1") },
		{ LIT(V1_TCP4_HEAD "54321 143") },
		{ LIT(V1_TCP4_HEAD "54321 143\r") },
		{ LIT("PROXY UNKNOWN") },
		{ LIT("PROXY UNKNOWN\r") },
		{ LIT("PROXY UNKNOWN \r\r\r") },
		{ LIT("\r") },
		{ LIT("\r\n") },
		{ LIT("\r\n\r") },
		{ LIT("\r\n\r\n") },
		{ LIT("\r\n\r\n\0") },
		{ LIT(V2_SIG) },
		{ LIT(V2_SIG "\x21") },
		{ LIT(V2_SIG "\x21\x11") },
		{ LIT(V2_SIG "\x21\x11\x00") },
		{ LIT(V2_SIG "\x21\x11\x00\x0c") },
		{ LIT(V2_SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x01" "\xc6\x33\x64\x02" "\xd4\x31" "\x00") },
		{ LIT(V2_SIG "\x20\x00\x04\x00") },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct proxy_info info;
		const char *error = NULL;

		if (parse_exact(cases[i].data, cases[i].len, &info, &error) != 0)
			fail_msg("case %zu: %s", i, error != NULL ? error : "not 0");
	}
}

/* The v1 line limit, on both sides, built at run time. */
static void test_v1_line_limit(void **state)
{
	uint8_t buf[PROXY_V1_MAX_LINE + 8];
	struct proxy_info info;
	const char *error = NULL;
	static const char head[] = "PROXY UNKNOWN ";

	/* 107 bytes with CRLF: accepted. */
	memcpy(buf, head, sizeof(head) - 1);
	memset(buf + sizeof(head) - 1, 'x', sizeof(buf) - (sizeof(head) - 1));
	buf[PROXY_V1_MAX_LINE - 2] = '\r';
	buf[PROXY_V1_MAX_LINE - 1] = '\n';
	assert_int_equal(parse_exact(buf, PROXY_V1_MAX_LINE, &info, &error), PROXY_V1_MAX_LINE);
	assert_true(info.local);

	/* 108 bytes with CRLF: refused at byte 107, before the CRLF arrives. */
	buf[PROXY_V1_MAX_LINE - 2] = 'x';
	buf[PROXY_V1_MAX_LINE - 1] = '\r';
	buf[PROXY_V1_MAX_LINE] = '\n';
	assert_int_equal(parse_exact(buf, PROXY_V1_MAX_LINE - 1, &info, &error), 0);
	error = NULL;
	assert_int_equal(parse_exact(buf, PROXY_V1_MAX_LINE, &info, &error), -1);
	assert_string_equal(error, "PROXY v1 line longer than 107 bytes");
	assert_int_equal(parse_exact(buf, PROXY_V1_MAX_LINE + 1, &info, &error), -1);
}

/* Whatever arrives, PROXY_MAX_HEADER bytes are enough to decide. */
static void test_max_header_decides(void **state)
{
	uint8_t buf[PROXY_MAX_HEADER];
	struct proxy_info info;
	const char *error;

	/* The largest v2 header ends exactly at the limit. */
	size_t n = build_v2(buf, 0x20, 0x00, 1024, NULL, 0, 1024);
	assert_int_equal(n, PROXY_MAX_HEADER);
	assert_int_equal(parse_exact(buf, n - 1, &info, &error), 0);
	assert_int_equal(parse_exact(buf, n, &info, &error), PROXY_MAX_HEADER);

	/* A v1 line of spaces-free junk is refused long before. */
	memcpy(buf, "PROXY UNKNOWN ", 14);
	memset(buf + 14, 'z', sizeof(buf) - 14);
	assert_int_equal(parse_exact(buf, sizeof(buf), &info, &error), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_whole),
		cmocka_unit_test(test_valid_trailing),
		cmocka_unit_test(test_valid_split),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_v1_line_limit),
		cmocka_unit_test(test_max_header_decides),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
