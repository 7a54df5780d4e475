/*
 * Fuzz target for common/tls_record: the TLS 1.3 record layer that takes
 * over from OpenSSL after the handshake.
 *
 * Random bytes almost never authenticate, so the input is a script for a
 * peer that holds the right keys: each step either sends a record it
 * encrypts properly (any content type, any content: application data,
 * KeyUpdate in every form, alerts, junk, padding) or raw bytes (damaged or
 * hand-made records), and each step's bytes reach the record layer split
 * where the script says. The peer follows our KeyUpdate replies, so long
 * scripts keep talking after key changes.
 *
 * Checked beyond "does not crash": application data comes out exactly as
 * the peer sent it, in order, as long as the connection is up; an error
 * comes with a reason; nothing is accepted after an error or close.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/outq.h"
#include "common/tls_record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct sink {
	struct buf got;
};

static void on_plaintext(void *ctx, const uint8_t *data, size_t len)
{
	struct sink *s = ctx;
	if (buf_append(&s->got, data, len) < 0)
		abort();
}

static void drain(struct outq *q)
{
	uv_buf_t bufs[8];
	unsigned int n;
	while ((n = outq_peek(q, bufs, 8)) > 0) {
		size_t total = 0;
		for (unsigned int i = 0; i < n; i++)
			total += bufs[i].len;
		outq_consume(q, total);
	}
}

/* Moves everything queued in q into one flat buffer. */
static void take_all(struct outq *q, struct buf *out)
{
	uv_buf_t bufs[8];
	unsigned int n;
	while ((n = outq_peek(q, bufs, 8)) > 0) {
		size_t total = 0;
		for (unsigned int i = 0; i < n; i++) {
			buf_append(out, bufs[i].base, bufs[i].len);
			total += bufs[i].len;
		}
		outq_consume(q, total);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t suites[] = { TLS_RECORD_AES_128_GCM_SHA256,
					   TLS_RECORD_AES_256_GCM_SHA384,
					   TLS_RECORD_CHACHA20_POLY1305_SHA256 };
	if (size < 1)
		return 0;
	uint16_t suite = suites[data[0] % 3];
	size_t secret_len = suite == TLS_RECORD_AES_256_GCM_SHA384 ? 48 : 32;
	data++;
	size--;

	uint8_t client_secret[48], server_secret[48];
	memset(client_secret, 0xc1, sizeof(client_secret));
	memset(server_secret, 0x5e, sizeof(server_secret));
	struct tls_record server, client;
	if (tls_record_init(&server, suite, client_secret, server_secret, secret_len, 0, 2) < 0 ||
	    tls_record_init(&client, suite, server_secret, client_secret, secret_len, 2, 0) < 0)
		abort();

	struct outq to_server, to_client;
	outq_init(&to_server);
	outq_init(&to_client);
	struct sink sink = { BUF_INIT };
	struct buf expected = BUF_INIT, wire = BUF_INIT;
	bool up = true, sent_bad = false;

	while (size >= 3 && up) {
		uint8_t op = data[0];
		size_t len = (size_t)data[1] << 4 | (data[2] >> 4);
		uint8_t split = data[2] & 0x0f;
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		const uint8_t *content = data;
		data += len;
		size -= len;

		buf_clear(&wire);
		if (op & 0x80) {
			/* Raw bytes: whatever they are, they are not a record
			   the peer protected. */
			buf_append(&wire, content, len);
			sent_bad = true;
		} else {
			uint8_t type = op & 0x7f;
			if (type == 0x7f)
				type = 23; /* make application data common */
			if (tls_record_send(&client, &to_server, type, content, len) < 0)
				continue;
			if (type == 23 && !sent_bad)
				buf_append(&expected, content, len);
			if (type != 23)
				sent_bad = true; /* may well be refused */
			take_all(&to_server, &wire);
		}

		/* Feed in pieces of split+1 bytes (15: all at once). */
		size_t step = split == 15 ? wire.len : (size_t)split + 1;
		for (size_t off = 0; off < wire.len && up; off += step) {
			size_t n = wire.len - off < step ? wire.len - off : step;
			const char *error = NULL;
			enum tls_record_result r = tls_record_input(&server, wire.data + off, n,
								    &to_client, on_plaintext,
								    &sink, &error);
			if (r == TLS_RECORD_ERROR && (error == NULL || *error == '\0'))
				abort();
			if (r != TLS_RECORD_OK)
				up = false;
		}
		/* The peer reads our KeyUpdate replies so it can go on. */
		buf_clear(&wire);
		take_all(&to_client, &wire);
		if (wire.len > 0 && up) {
			const char *error = NULL;
			struct sink ignore = { BUF_INIT };
			if (tls_record_input(&client, wire.data, wire.len, &to_server,
					     on_plaintext, &ignore, &error) != TLS_RECORD_OK)
				abort(); /* we only ever send well-formed records */
			buf_free(&ignore.got);
			drain(&to_server);
		}
		if (!sent_bad) {
			if (sink.got.len != expected.len ||
			    (expected.len > 0 && memcmp(sink.got.data, expected.data, expected.len) != 0))
				abort();
		}
	}
	/* Nothing is accepted once the connection is down. */
	if (!up) {
		size_t before = sink.got.len;
		const char *error = NULL;
		tls_record_send(&client, &to_server, 23, (const uint8_t *)"late", 4);
		buf_clear(&wire);
		take_all(&to_server, &wire);
		tls_record_input(&server, wire.data, wire.len, &to_client, on_plaintext, &sink,
				 &error);
		if (sink.got.len != before)
			abort();
	}

	tls_record_clear(&server);
	tls_record_clear(&client);
	outq_free(&to_server);
	outq_free(&to_client);
	buf_free(&sink.got);
	buf_free(&expected);
	buf_free(&wire);
	tls_record_thread_deinit();
	return 0;
}
