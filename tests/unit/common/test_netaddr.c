/*
 * Unit tests for common/netaddr: formatting, keys, networks and listen
 * addresses, with the boundaries (prefix lengths, port range, sun_path
 * size) tested on both sides.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/netaddr.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Builds a socket address from text: an IPv4 or IPv6 address, or "unix". */
static const struct sockaddr *make_sa(struct sockaddr_storage *ss, const char *text, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (strcmp(text, "unix") == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, "/run/petrel/test");
	} else if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

static void test_format(void **state)
{
	static const struct {
		const char *in;
		uint16_t port;
		const char *out;
	} cases[] = {
		{ "192.0.2.1", 143, "192.0.2.1" },
		{ "0.0.0.0", 1, "0.0.0.0" },
		{ "255.255.255.255", 65535, "255.255.255.255" },
		{ "2001:db8::1", 993, "2001:db8::1" },
		{ "::1", 110, "::1" },
		{ "::", 0, "::" },
		{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 24,
		  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
		{ "::ffff:192.0.2.1", 143, "192.0.2.1" },
		{ "::ffff:0.0.0.0", 143, "0.0.0.0" },
		/* IPv4-compatible (deprecated) and NAT64 forms are real IPv6. */
		{ "64:ff9b::c000:201", 143, "64:ff9b::c000:201" },
		{ "unix", 0, "unix" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sockaddr_storage ss;
		char out[NETADDR_STRLEN];
		const struct sockaddr *sa = make_sa(&ss, cases[i].in, cases[i].port);

		memset(out, 'x', sizeof(out));
		netaddr_format(sa, out);
		assert_string_equal(out, cases[i].out);
		assert_int_equal(netaddr_port(sa), cases[i].port);
	}
}

static void test_format_unknown_family(void **state)
{
	struct sockaddr_storage ss = { .ss_family = AF_PACKET };
	char out[NETADDR_STRLEN];

	netaddr_format((struct sockaddr *)&ss, out);
	assert_string_equal(out, "unknown");
	assert_int_equal(netaddr_port((struct sockaddr *)&ss), 0);
}

static void test_key(void **state)
{
	struct sockaddr_storage s1, s2;
	struct netaddr_key k1, k2;

	/* Ports do not matter, and a mapped address is its IPv4 self. */
	netaddr_key(make_sa(&s1, "192.0.2.1", 143), &k1);
	netaddr_key(make_sa(&s2, "::ffff:192.0.2.1", 50000), &k2);
	assert_int_equal(k1.family, 4);
	assert_true(netaddr_key_eq(&k1, &k2));
	assert_int_equal(netaddr_key_hash(&k1), netaddr_key_hash(&k2));
	assert_memory_equal(&k1, &k2, sizeof(k1));

	netaddr_key(make_sa(&s2, "192.0.2.2", 143), &k2);
	assert_false(netaddr_key_eq(&k1, &k2));

	/* Same 32 bits, different family. */
	netaddr_key(make_sa(&s2, "::c000:201", 143), &k2);
	assert_int_equal(k2.family, 6);
	assert_false(netaddr_key_eq(&k1, &k2));

	netaddr_key(make_sa(&s1, "2001:db8::1", 1), &k1);
	netaddr_key(make_sa(&s2, "2001:db8::1", 2), &k2);
	assert_true(netaddr_key_eq(&k1, &k2));
	assert_int_equal(netaddr_key_hash(&k1), netaddr_key_hash(&k2));
	netaddr_key(make_sa(&s2, "2001:db8::2", 1), &k2);
	assert_false(netaddr_key_eq(&k1, &k2));

	netaddr_key(make_sa(&s1, "unix", 0), &k1);
	assert_int_equal(k1.family, 0);
	netaddr_key(make_sa(&s2, "unix", 0), &k2);
	assert_true(netaddr_key_eq(&k1, &k2));
}

/* Not a statistical test: just that neighbouring addresses do not all
 * collide, which a broken mixer would show at once. */
static void test_key_hash_spread(void **state)
{
	uint32_t seen[64];

	for (unsigned i = 0; i < ARRAY_SIZE(seen); i++) {
		struct sockaddr_storage ss;
		struct netaddr_key k;
		char text[32];

		snprintf(text, sizeof(text), "2001:db8::%x", i);
		netaddr_key(make_sa(&ss, text, 0), &k);
		seen[i] = netaddr_key_hash(&k);
		for (unsigned j = 0; j < i; j++)
			assert_int_not_equal(seen[i], seen[j]);
	}
}

static void test_cidr_parse_good(void **state)
{
	static const struct {
		const char *in;
		uint8_t family;
		const char *addr;
		uint8_t prefix;
	} cases[] = {
		{ "10.0.0.0/8", 4, "10.0.0.0", 8 },
		{ "10.1.2.3/8", 4, "10.0.0.0", 8 },
		{ "192.0.2.7", 4, "192.0.2.7", 32 },
		{ "192.0.2.7/32", 4, "192.0.2.7", 32 },
		{ "10.0.31.255/20", 4, "10.0.16.0", 20 },
		{ "255.255.255.255/0", 4, "0.0.0.0", 0 },
		{ "10.0.0.0/08", 4, "10.0.0.0", 8 },
		{ "2001:db8::/32", 6, "2001:db8::", 32 },
		{ "2001:db8:ffff::1/32", 6, "2001:db8::", 32 },
		{ "::1", 6, "::1", 128 },
		{ "::/0", 6, "::", 0 },
		{ "2001:db8::3/127", 6, "2001:db8::2", 127 },
		{ "fe80::1/10", 6, "fe80::", 10 },
		/* Mapped networks become the IPv4 networks they stand for. */
		{ "::ffff:10.1.0.0/104", 4, "10.0.0.0", 8 },
		{ "::ffff:192.0.2.7", 4, "192.0.2.7", 32 },
		{ "::ffff:0:0/96", 4, "0.0.0.0", 0 },
		/* Shorter than 96 it covers more than IPv4 and stays IPv6. */
		{ "::ffff:0:0/95", 6, "::fffe:0:0", 95 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cidr c;
		uint8_t want[16] = { 0 };
		const char *error = NULL;

		if (cidr_parse(cases[i].in, &c, &error) != 0)
			fail_msg("%s: %s", cases[i].in, error);
		assert_int_equal(c.family, cases[i].family);
		assert_int_equal(c.prefix, cases[i].prefix);
		assert_int_equal(inet_pton(c.family == 4 ? AF_INET : AF_INET6, cases[i].addr, want), 1);
		assert_memory_equal(c.addr, want, sizeof(want));
	}
}

static void test_cidr_parse_bad(void **state)
{
	static const char *const cases[] = {
		"",
		"/8",
		"1.2.3.4/",
		"1.2.3.4/33",
		"1.2.3.4/999999999999",
		"1.2.3.4/99999999999999999999999999999999",
		"::/129",
		"::/999999999999",
		"1.2.3.4/-1",
		"1.2.3.4/+8",
		"1.2.3.4/8x",
		"1.2.3.4/ 8",
		"1.2.3.4/8/8",
		"1.2.3.4//8",
		"garbage",
		"garbage/8",
		"1.2.3",
		"1.2.3.4.5",
		"256.0.0.0",
		"01.2.3.4",
		" 1.2.3.4",
		"1.2.3.4 ",
		"::1::2",
		"2001:db8::/32 ",
		"fe80::1%eth0",
		"1:2:3:4:5:6:7:8:9",
		"localhost",
		"1111111111111111111111111111111111111111111111111111111111.0.0.0/8",
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cidr c;
		const char *error = NULL;

		if (cidr_parse(cases[i], &c, &error) != -1)
			fail_msg("'%s' was accepted", cases[i]);
		assert_non_null(error);
		assert_true(strlen(error) > 0);
	}
}

static void test_cidr_match(void **state)
{
	static const struct {
		const char *cidr;
		const char *addr;
		bool match;
	} cases[] = {
		{ "0.0.0.0/0", "1.2.3.4", true },
		{ "0.0.0.0/0", "::ffff:1.2.3.4", true },
		{ "0.0.0.0/0", "::1", false },
		{ "0.0.0.0/0", "unix", false },
		/* "All IPv6" does not take in mapped clients: they are IPv4. */
		{ "::/0", "2001:db8::1", true },
		{ "::/0", "1.2.3.4", false },
		{ "::/0", "::ffff:1.2.3.4", false },
		{ "::/0", "unix", false },
		{ "192.0.2.7/32", "192.0.2.7", true },
		{ "192.0.2.7/32", "192.0.2.6", false },
		{ "192.0.2.7/32", "192.0.2.8", false },
		{ "192.0.2.7/32", "::ffff:192.0.2.7", true },
		{ "10.0.16.0/20", "10.0.16.0", true },
		{ "10.0.16.0/20", "10.0.31.255", true },
		{ "10.0.16.0/20", "10.0.15.255", false },
		{ "10.0.16.0/20", "10.0.32.0", false },
		{ "10.0.0.0/8", "10.255.255.255", true },
		{ "10.0.0.0/8", "11.0.0.0", false },
		{ "10.0.0.0/8", "::ffff:10.9.8.7", true },
		{ "10.0.0.0/8", "::a09:807", false },
		{ "128.0.0.0/1", "127.255.255.255", false },
		{ "128.0.0.0/1", "128.0.0.0", true },
		{ "2001:db8::/127", "2001:db8::", true },
		{ "2001:db8::/127", "2001:db8::1", true },
		{ "2001:db8::/127", "2001:db8::2", false },
		{ "::1", "::1", true },
		{ "::1", "::", false },
		{ "::1", "::2", false },
		{ "::1", "127.0.0.1", false },
		{ "2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true },
		{ "2001:db8::/32", "2001:db9::", false },
		{ "fe80::/10", "febf::1", true },
		{ "fe80::/10", "fec0::1", false },
		{ "::ffff:10.0.0.0/104", "10.1.2.3", true },
		{ "::ffff:10.0.0.0/104", "::ffff:10.1.2.3", true },
		{ "::ffff:10.0.0.0/104", "11.1.2.3", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cidr c;
		struct sockaddr_storage ss;
		const char *error;

		assert_int_equal(cidr_parse(cases[i].cidr, &c, &error), 0);
		if (cidr_match(&c, make_sa(&ss, cases[i].addr, 143)) != cases[i].match)
			fail_msg("%s in %s: expected %d", cases[i].addr, cases[i].cidr,
				 cases[i].match);
	}
}

static void test_cidr_list(void **state)
{
	struct cidr_list list;
	struct sockaddr_storage ss;
	const char *error = NULL;

	assert_int_equal(cidr_list_parse("10.0.0.0/8, 192.168.0.0/16\t::1 ,,  fe80::/10\n",
					 &list, &error), 0);
	assert_int_equal(list.count, 4);
	assert_int_equal(list.items[0].prefix, 8);
	assert_int_equal(list.items[1].prefix, 16);
	assert_int_equal(list.items[2].family, 6);
	assert_int_equal(list.items[3].prefix, 10);
	assert_true(cidr_list_match(&list, make_sa(&ss, "10.2.3.4", 1)));
	assert_true(cidr_list_match(&list, make_sa(&ss, "::ffff:192.168.7.1", 1)));
	assert_true(cidr_list_match(&list, make_sa(&ss, "::1", 1)));
	assert_true(cidr_list_match(&list, make_sa(&ss, "fe80::abcd", 1)));
	assert_false(cidr_list_match(&list, make_sa(&ss, "192.169.0.1", 1)));
	assert_false(cidr_list_match(&list, make_sa(&ss, "::2", 1)));
	assert_false(cidr_list_match(&list, make_sa(&ss, "unix", 0)));
	cidr_list_free(&list);
	assert_null(list.items);
	assert_int_equal(list.count, 0);
	cidr_list_free(&list);

	/* A list of one, with no separators at all, grows past the first
	 * allocation too. */
	assert_int_equal(cidr_list_parse("1.1.1.1,2.2.2.2,3.3.3.3,4.4.4.4,5.5.5.5,6.6.6.6",
					 &list, &error), 0);
	assert_int_equal(list.count, 6);
	assert_true(cidr_list_match(&list, make_sa(&ss, "6.6.6.6", 1)));
	cidr_list_free(&list);

	static const char *const empty[] = { "", " ", ",", " , ,\t\n", NULL };
	for (size_t i = 0; i < ARRAY_SIZE(empty); i++) {
		assert_int_equal(cidr_list_parse(empty[i], &list, &error), 0);
		assert_int_equal(list.count, 0);
		assert_null(list.items);
		assert_false(cidr_list_match(&list, make_sa(&ss, "1.2.3.4", 1)));
		cidr_list_free(&list);
	}
}

static void test_cidr_list_errors(void **state)
{
	static const struct {
		const char *in;
		const char *error;
	} cases[] = {
		{ "10.0.0.0/8, bogus/8, ::1",
		  "invalid network 'bogus/8': not a valid IPv4 address" },
		{ "10.0.0.0/8 10.0.0.0/33",
		  "invalid network '10.0.0.0/33': prefix length over 32 for IPv4" },
		{ "::1;::2", "invalid network '::1;::2': not a valid IPv6 address" },
		{ "/8", "invalid network '/8': missing address before '/'" },
		{ "1.2.3.4/", "invalid network '1.2.3.4/': missing prefix length after '/'" },
		{ "1.2.3.4/999999999999",
		  "invalid network '1.2.3.4/999999999999': prefix length over 32 for IPv4" },
		{ "1.2.3.4,"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "invalid network '"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...': too long" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cidr_list list = { (struct cidr *)&list, 99 };
		const char *error = NULL;

		assert_int_equal(cidr_list_parse(cases[i].in, &list, &error), -1);
		assert_string_equal(error, cases[i].error);
		assert_null(list.items);
		assert_int_equal(list.count, 0);
	}
}

static void test_listen_addr_good(void **state)
{
	static const struct {
		const char *in;
		enum listen_kind kind;
		int family;
		const char *out;
	} cases[] = {
		{ "127.0.0.1:143", LISTEN_TCP, AF_INET, "127.0.0.1:143" },
		{ "*:143", LISTEN_TCP, AF_INET, "0.0.0.0:143" },
		{ "0.0.0.0:65535", LISTEN_TCP, AF_INET, "0.0.0.0:65535" },
		{ "192.0.2.1:1", LISTEN_TCP, AF_INET, "192.0.2.1:1" },
		{ "192.0.2.1:00993", LISTEN_TCP, AF_INET, "192.0.2.1:993" },
		{ "[::1]:143", LISTEN_TCP, AF_INET6, "[::1]:143" },
		{ "[::]:993", LISTEN_TCP, AF_INET6, "[::]:993" },
		{ "[2001:db8::25]:24", LISTEN_TCP, AF_INET6, "[2001:db8::25]:24" },
		{ "[::ffff:127.0.0.1]:110", LISTEN_TCP, AF_INET6, "[::ffff:127.0.0.1]:110" },
		{ "unix:/run/petrel/lmtp", LISTEN_UNIX, 0, "unix:/run/petrel/lmtp" },
		{ "/run/petrel/lmtp", LISTEN_UNIX, 0, "unix:/run/petrel/lmtp" },
		{ "/tmp/a:b", LISTEN_UNIX, 0, "unix:/tmp/a:b" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct listen_addr la;
		char out[NETADDR_STRLEN + 8];
		const char *error = NULL;

		if (listen_addr_parse(cases[i].in, &la, &error) != 0)
			fail_msg("%s: %s", cases[i].in, error);
		assert_int_equal(la.kind, cases[i].kind);
		if (la.kind == LISTEN_TCP) {
			assert_int_equal(la.ss.ss_family, cases[i].family);
			assert_int_equal(la.sslen, cases[i].family == AF_INET ?
					 sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
			assert_int_equal(la.path[0], '\0');
		} else {
			assert_int_equal(la.sslen, 0);
		}
		listen_addr_format(&la, out, sizeof(out));
		assert_string_equal(out, cases[i].out);
	}
}

static void test_listen_addr_bad(void **state)
{
	static const char *const cases[] = {
		"",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:0",
		"127.0.0.1:00000",
		"127.0.0.1:65536",
		"127.0.0.1:99999",
		"127.0.0.1:100000",
		"127.0.0.1:99999999999999999999",
		"127.0.0.1:-1",
		"127.0.0.1:+143",
		"127.0.0.1:143x",
		"127.0.0.1: 143",
		"127.0.0.1:0x8f",
		":143",
		"*:0",
		"*",
		"localhost:143",
		"127.0.0.256:143",
		"[::1",
		"[::1]",
		"[::1]143",
		"[::1]:",
		"[::1]:65536",
		"[]:143",
		"[*]:143",
		"[127.0.0.1]:143",
		"[::1%lo]:143",
		"::1:143",
		"2001:db8::1:143",
		"unix:",
		"unix:relative/path",
		"relative/path",
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct listen_addr la;
		const char *error = NULL;

		if (listen_addr_parse(cases[i], &la, &error) != -1)
			fail_msg("'%s' was accepted", cases[i]);
		assert_non_null(error);
	}
}

static void test_listen_addr_path_length(void **state)
{
	struct listen_addr la;
	char path[sizeof(la.path) + 16];
	char text[sizeof(path) + 8];
	char out[sizeof(text) + 8];
	const char *error = NULL;

	/* sizeof(sun_path) - 1 characters fit with the NUL; one more does not. */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[sizeof(la.path) - 1] = '\0';
	assert_int_equal(listen_addr_parse(path, &la, &error), 0);
	assert_int_equal(strlen(la.path), sizeof(la.path) - 1);
	snprintf(text, sizeof(text), "unix:%s", path);
	assert_int_equal(listen_addr_parse(text, &la, &error), 0);
	listen_addr_format(&la, out, sizeof(out));
	assert_string_equal(out, text);

	path[sizeof(la.path) - 1] = 'a';
	path[sizeof(la.path)] = '\0';
	assert_int_equal(listen_addr_parse(path, &la, &error), -1);
	assert_string_equal(error, "unix socket path too long");
	snprintf(text, sizeof(text), "unix:%s", path);
	assert_int_equal(listen_addr_parse(text, &la, &error), -1);
}

static void test_listen_addr_format_truncates(void **state)
{
	struct listen_addr la;
	char out[8];
	const char *error;

	assert_int_equal(listen_addr_parse("[2001:db8::1]:143", &la, &error), 0);
	memset(out, 'x', sizeof(out));
	listen_addr_format(&la, out, sizeof(out));
	assert_string_equal(out, "[2001:d");
	listen_addr_format(&la, out, 0);
	assert_string_equal(out, "[2001:d");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_unknown_family),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_key_hash_spread),
		cmocka_unit_test(test_cidr_parse_good),
		cmocka_unit_test(test_cidr_parse_bad),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_cidr_list),
		cmocka_unit_test(test_cidr_list_errors),
		cmocka_unit_test(test_listen_addr_good),
		cmocka_unit_test(test_listen_addr_bad),
		cmocka_unit_test(test_listen_addr_path_length),
		cmocka_unit_test(test_listen_addr_format_truncates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
