/*
 * tls.c + tls_record.c against OpenSSL's own client, in memory: the
 * handover after the handshake, every suite, KeyUpdate both ways, records
 * split at every byte, padding, resumption, close_notify, and damaged or
 * hostile records. OpenSSL's client is the independent judge: if our keys,
 * nonces or sequence numbers were wrong, it could not read a byte we send
 * and we could not read its records.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/buf.h"
#include "common/outq.h"
#include "common/settings.h"
#include "common/tls.h"
#include "common/tls_record.h"

static char cert_path[64], key_path[64], dir_path[32];

/* A throwaway self-signed P-256 certificate for the whole run. */
static int make_certificate(void **state)
{
	(void)state;
	snprintf(dir_path, sizeof(dir_path), "/tmp/petrel-tlsrec-XXXXXX");
	if (mkdtemp(dir_path) == NULL)
		return -1;
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir_path);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir_path);

	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pkey);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
				   -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_sign(x, pkey, EVP_sha256());

	FILE *f = fopen(cert_path, "w");
	PEM_write_X509(f, x);
	fclose(f);
	f = fopen(key_path, "w");
	PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return 0;
}

static int remove_certificate(void **state)
{
	(void)state;
	unlink(cert_path);
	unlink(key_path);
	rmdir(dir_path);
	tls_global_deinit();
	return 0;
}

/* ---- a server connection and an OpenSSL client, wired in memory ---- */

struct pair {
	struct tls_server *srv;
	struct tls_conn *tc;
	struct outq wire; /* server to client */
	SSL_CTX *cctx;
	SSL *cl;
	BIO *cl_in, *cl_out;
	struct buf got; /* plaintext the server received */
	bool server_done;
	enum tls_input_result last;
	const char *error;
	size_t split; /* feed the server this many bytes at a time; 0: all */
};

static void on_handshake(void *ctx)
{
	((struct pair *)ctx)->server_done = true;
}

static void on_plaintext(void *ctx, const uint8_t *data, size_t len)
{
	buf_append(&((struct pair *)ctx)->got, data, len);
}

static void pair_open(struct pair *p, int record_layer, int max_version, const char *suites)
{
	memset(p, 0, sizeof(*p));
	struct settings set = { 0 };
	set.tls.cert_file = cert_path;
	set.tls.key_file = key_path;
	set.tls.ciphers = "";
	set.tls.ciphersuites = "";
	set.tls.min_protocol = TLS_MIN_1_2;
	set.tls.record_layer = record_layer;
	char *error = NULL;
	p->srv = tls_server_create(&set, &error);
	assert_non_null(p->srv);
	outq_init(&p->wire);
	p->tc = tls_conn_create(p->srv, &p->wire);

	p->cctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_max_proto_version(p->cctx, max_version);
	if (suites != NULL)
		assert_int_equal(SSL_CTX_set_ciphersuites(p->cctx, suites), 1);
	p->cl = SSL_new(p->cctx);
	p->cl_in = BIO_new(BIO_s_mem());
	p->cl_out = BIO_new(BIO_s_mem());
	SSL_set_bio(p->cl, p->cl_in, p->cl_out);
	SSL_set_connect_state(p->cl);
}

static void pair_close(struct pair *p)
{
	SSL_free(p->cl);
	SSL_CTX_free(p->cctx);
	tls_conn_destroy(&p->tc);
	tls_server_destroy(&p->srv);
	outq_free(&p->wire);
	buf_free(&p->got);
}

/* Client bytes to the server (in p->split pieces). */
static size_t to_server(struct pair *p)
{
	char *data;
	long len = BIO_get_mem_data(p->cl_out, &data);
	size_t total = (size_t)len;
	size_t step = p->split > 0 ? p->split : total;
	for (size_t off = 0; off < total; off += step) {
		size_t n = total - off < step ? total - off : step;
		p->last = tls_conn_input(p->tc, (const uint8_t *)data + off, n,
					 &(struct tls_io){ p, on_handshake, on_plaintext },
					 &p->error);
	}
	(void)BIO_reset(p->cl_out);
	return total;
}

/* Server bytes to the client. */
static size_t to_client(struct pair *p)
{
	size_t total = 0;
	uv_buf_t bufs[16];
	unsigned int n;
	while ((n = outq_peek(&p->wire, bufs, 16)) > 0) {
		size_t moved = 0;
		for (unsigned int i = 0; i < n; i++) {
			BIO_write(p->cl_in, bufs[i].base, (int)bufs[i].len);
			moved += bufs[i].len;
		}
		outq_consume(&p->wire, moved);
		total += moved;
	}
	return total;
}

static void handshake(struct pair *p)
{
	for (int i = 0; i < 10; i++) {
		int r = SSL_do_handshake(p->cl);
		if (r != 1)
			assert_int_equal(SSL_get_error(p->cl, r), SSL_ERROR_WANT_READ);
		to_server(p);
		to_client(p);
		if (r == 1 && p->server_done)
			return;
	}
	fail_msg("handshake did not finish");
}

/* Everything the client can read now. */
static void client_read(struct pair *p, struct buf *out)
{
	uint8_t chunk[4096];
	int n;
	while ((n = SSL_read(p->cl, chunk, sizeof(chunk))) > 0)
		buf_append(out, chunk, (size_t)n);
}

static void fill_pattern(uint8_t *data, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 31 + seed + i / 251);
}

/* Both directions, large and small. */
static void exchange(struct pair *p, unsigned int seed)
{
	buf_clear(&p->got);
	assert_int_equal(SSL_write(p->cl, "a1 NOOP\r\n", 9), 9);
	to_server(p);
	assert_int_equal(p->last, TLS_INPUT_OK);
	assert_int_equal(p->got.len, 9);
	assert_memory_equal(p->got.data, "a1 NOOP\r\n", 9);

	static uint8_t big[100000];
	fill_pattern(big, sizeof(big), seed);
	assert_int_equal(tls_conn_write(p->tc, big, sizeof(big)), 0);
	assert_int_equal(tls_conn_write(p->tc, (const uint8_t *)"x", 1), 0);
	to_client(p);
	struct buf read = BUF_INIT;
	client_read(p, &read);
	to_server(p); /* whatever the client answered (nothing, or KeyUpdate) */
	assert_int_equal(read.len, sizeof(big) + 1);
	assert_memory_equal(read.data, big, sizeof(big));
	assert_int_equal(read.data[sizeof(big)], 'x');
	buf_free(&read);
}

static void test_every_suite_is_handed_over(void **state)
{
	(void)state;
	static const char *const suites[] = { "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
					      "TLS_CHACHA20_POLY1305_SHA256" };
	for (size_t i = 0; i < 3; i++) {
		struct pair p;
		pair_open(&p, TLS_RECORDS_PETREL, TLS1_3_VERSION, suites[i]);
		handshake(&p);
		assert_true(tls_conn_own_records(p.tc));
		assert_string_equal(tls_conn_version(p.tc), "TLSv1.3");
		assert_string_equal(tls_conn_cipher(p.tc), suites[i]);
		exchange(&p, (unsigned int)i);
		exchange(&p, (unsigned int)i + 7);
		pair_close(&p);
	}
}

static void test_openssl_keeps_tls12_and_when_configured(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p, TLS_RECORDS_PETREL, TLS1_2_VERSION, NULL);
	handshake(&p);
	assert_false(tls_conn_own_records(p.tc));
	assert_string_equal(tls_conn_version(p.tc), "TLSv1.2");
	exchange(&p, 1);
	pair_close(&p);

	pair_open(&p, TLS_RECORDS_OPENSSL, TLS1_3_VERSION, NULL);
	handshake(&p);
	assert_false(tls_conn_own_records(p.tc));
	exchange(&p, 2);
	pair_close(&p);
}

/* Counts the KeyUpdate messages the client receives. */
static int key_updates_seen;

static void client_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
			  SSL *ssl, void *arg)
{
	(void)version;
	(void)ssl;
	(void)arg;
	if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
	    ((const uint8_t *)buf)[0] == SSL3_MT_KEY_UPDATE)
		key_updates_seen++;
}

static void test_key_update_both_ways(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p, TLS_RECORDS_PETREL, TLS1_3_VERSION, NULL);
	SSL_set_msg_callback(p.cl, client_msg_cb);
	key_updates_seen = 0;
	handshake(&p);
	for (int i = 0; i < 3; i++) {
		/* The client asks us to update too: our reply must come before
		   our next data, or the client could not read it. */
		assert_int_equal(SSL_key_update(p.cl, SSL_KEY_UPDATE_REQUESTED), 1);
		exchange(&p, (unsigned int)i);
		assert_int_equal(key_updates_seen, i + 1);
		assert_int_equal(SSL_key_update(p.cl, SSL_KEY_UPDATE_NOT_REQUESTED), 1);
		exchange(&p, (unsigned int)i + 100);
		assert_int_equal(key_updates_seen, i + 1);
	}
	pair_close(&p);
}

static void test_padded_records(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p, TLS_RECORDS_PETREL, TLS1_3_VERSION, NULL);
	SSL_set_block_padding(p.cl, 512);
	handshake(&p);
	assert_true(tls_conn_own_records(p.tc));
	exchange(&p, 3);
	pair_close(&p);
}

/* The client's first data can arrive in the same read as its Finished. */
static void test_data_right_behind_finished(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p, TLS_RECORDS_PETREL, TLS1_3_VERSION, NULL);
	assert_int_equal(SSL_do_handshake(p.cl), -1); /* ClientHello */
	to_server(&p);
	to_client(&p);
	assert_int_equal(SSL_do_handshake(p.cl), 1); /* Finished, not sent yet */
	assert_int_equal(SSL_write(p.cl, "a LOGIN x y\r\n", 13), 13);
	to_server(&p);
	assert_true(p.server_done);
	assert_true(tls_conn_own_records(p.tc));
	assert_int_equal(p.last, TLS_INPUT_OK);
	assert_int_equal(p.got.len, 13);
	assert_memory_equal(p.got.data, "a LOGIN x y\r\n", 13);
	to_client(&p);
	exchange(&p, 4);
	pair_close(&p);
}

/* Two records, the input split at each byte in turn, then byte by byte. */
static void test_split_at_every_byte(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p, TLS_RECORDS_PETREL, TLS1_3_VERSION, NULL);
	handshake(&p);
	SSL_write(p.cl, "first ", 6);
	SSL_write(p.cl, "second\r\n", 8);
	char *data;
	long len = BIO_get_mem_data(p.cl_out, &data);
	uint8_t *wire = malloc((size_t)len);
	memcpy(wire, data, (size_t)len);
	pair_close(&p);

	/* Sequence numbers are per connection, so each split needs the same
	   records on a fresh one: replay the handshake with a new client. */
	for (long cut = 0; cut <= len; cut++) {
		pair_open(&p, TLS_RECORDS_PETREL, TLS1_3_VERSION, NULL);
		handshake(&p);
		SSL_write(p.cl, "first ", 6);
		SSL_write(p.cl, "second\r\n", 8);
		long n = BIO_get_mem_data(p.cl_out, &data);
		assert_int_equal(n, len);
		const struct tls_io io = { &p, on_handshake, on_plaintext };
		p.last = tls_conn_input(p.tc, (uint8_t *)data, (size_t)cut, &io, &p.error);
		assert_int_equal(p.last, TLS_INPUT_OK);
		p.last = tls_conn_input(p.tc, (uint8_t *)data + cut, (size_t)(len - cut), &io,
					&p.error);
		assert_int_equal(p.last, TLS_INPUT_OK);
		assert_int_equal(p.got.len, 14);
		assert_memory_equal(p.got.data, "first second\r\n", 14);
		(void)BIO_reset(p.cl_out);
		pair_close(&p);
	}
	free(wire);

	pair_open(&p, TLS_RECORDS_PETREL, TLS1_3_VERSION, NULL);
	handshake(&p);
	p.split = 1;
	static uint8_t big[40000];
	fill_pattern(big, sizeof(big), 9);
	assert_int_equal(SSL_write(p.cl, big, sizeof(big)), (int)sizeof(big));
	to_server(&p);
	assert_int_equal(p.last, TLS_INPUT_OK);
	assert_int_equal(p.got.len, sizeof(big));
	assert_memory_equal(p.got.data, big, sizeof(big));
	pair_close(&p);
}

static void test_resumed_session_is_handed_over(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p, TLS_RECORDS_PETREL, TLS1_3_VERSION, NULL);
	handshake(&p);
	exchange(&p, 5); /* the client reads the tickets on the way */
	SSL_SESSION *session = SSL_get1_session(p.cl);
	assert_non_null(session);
	assert_true(SSL_SESSION_is_resumable(session));

	/* Tickets are sealed with a key of the server's context: resume on a
	   second connection to the same one. */
	struct pair q;
	pair_open(&q, TLS_RECORDS_PETREL, TLS1_3_VERSION, NULL);
	tls_conn_destroy(&q.tc);
	tls_server_destroy(&q.srv);
	q.tc = tls_conn_create(p.srv, &q.wire);
	SSL_set_session(q.cl, session);
	handshake(&q);
	assert_int_equal(SSL_session_reused(q.cl), 1);
	assert_true(tls_conn_own_records(q.tc));
	exchange(&q, 6);
	tls_conn_destroy(&q.tc);
	pair_close(&q);
	SSL_SESSION_free(session);
	pair_close(&p);
}

static void test_damaged_record_is_fatal(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p, TLS_RECORDS_PETREL, TLS1_3_VERSION, NULL);
	handshake(&p);
	SSL_write(p.cl, "a NOOP\r\n", 8);
	char *data;
	long len = BIO_get_mem_data(p.cl_out, &data);
	data[len - 1] ^= 1; /* the tag */
	to_server(&p);
	assert_int_equal(p.last, TLS_INPUT_ERROR);
	assert_string_equal(p.error, "bad record MAC");
	assert_int_equal(p.got.len, 0);
	/* The client is told why. */
	to_client(&p);
	uint8_t chunk[16];
	assert_true(SSL_read(p.cl, chunk, sizeof(chunk)) <= 0);
	assert_int_equal(ERR_GET_REASON(ERR_peek_last_error()), SSL_R_SSLV3_ALERT_BAD_RECORD_MAC);
	ERR_clear_error();
	/* Nothing more is accepted or sent. */
	assert_int_equal(tls_conn_write(p.tc, (const uint8_t *)"x", 1), -1);
	pair_close(&p);
}

static void hostile_record(const uint8_t *rec, size_t len, const char *why)
{
	struct pair p;
	pair_open(&p, TLS_RECORDS_PETREL, TLS1_3_VERSION, NULL);
	handshake(&p);
	p.last = tls_conn_input(p.tc, rec, len, &(struct tls_io){ &p, on_handshake, on_plaintext },
				&p.error);
	assert_int_equal(p.last, TLS_INPUT_ERROR);
	assert_string_equal(p.error, why);
	assert_true(outq_pending(&p.wire) > 0); /* the alert */
	pair_close(&p);
}

static void test_hostile_records(void **state)
{
	(void)state;
	/* Longer than RFC 8446 allows: refused from the header alone, before
	   any of the body is buffered. */
	hostile_record((const uint8_t *)"\x17\x03\x03\x41\x01", 5, "record too long");
	hostile_record((const uint8_t *)"\x17\x03\x03\xff\xff", 5, "record too long");
	/* Unprotected records after the handshake. */
	hostile_record((const uint8_t *)"\x16\x03\x03\x00\x01\x01", 6,
		       "unprotected record after handshake");
	hostile_record((const uint8_t *)"\x15\x03\x03\x00\x02\x02\x28", 7,
		       "unprotected record after handshake");
	/* Too short to hold a tag. */
	hostile_record((const uint8_t *)"\x17\x03\x03\x00\x03xyz", 8, "bad record MAC");
	hostile_record((const uint8_t *)"\x17\x03\x03\x00\x00", 5, "bad record MAC");
}

static void test_close_notify(void **state)
{
	(void)state;
	struct pair p;
	pair_open(&p, TLS_RECORDS_PETREL, TLS1_3_VERSION, NULL);
	handshake(&p);
	exchange(&p, 6);
	/* Ours reaches the client as a clean end. */
	tls_conn_shutdown(p.tc);
	to_client(&p);
	uint8_t chunk[16];
	int n = SSL_read(p.cl, chunk, sizeof(chunk));
	assert_int_equal(SSL_get_error(p.cl, n), SSL_ERROR_ZERO_RETURN);
	assert_int_equal(tls_conn_write(p.tc, (const uint8_t *)"x", 1), -1);
	/* And the client's is reported as one. */
	SSL_shutdown(p.cl);
	to_server(&p);
	assert_int_equal(p.last, TLS_INPUT_CLOSED);
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_suite_is_handed_over),
		cmocka_unit_test(test_openssl_keeps_tls12_and_when_configured),
		cmocka_unit_test(test_key_update_both_ways),
		cmocka_unit_test(test_padded_records),
		cmocka_unit_test(test_data_right_behind_finished),
		cmocka_unit_test(test_split_at_every_byte),
		cmocka_unit_test(test_resumed_session_is_handed_over),
		cmocka_unit_test(test_damaged_record_is_fatal),
		cmocka_unit_test(test_hostile_records),
		cmocka_unit_test(test_close_notify),
	};
	return cmocka_run_group_tests(tests, make_certificate, remove_certificate);
}
