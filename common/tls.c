#include "common/tls.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/tls_record.h"
#include "common/utf8.h" /* hex_digit_value */
#include "common/xalloc.h"

struct tls_server {
	SSL_CTX *ctx;
	char *cert_file;
	char *key_file;
	int min_protocol;
	int record_layer; /* enum tls_record_layer_setting */
	char *ciphers;
	char *ciphersuites;
};

/*
 * What a TLS 1.3 handshake leaves for tls_record, collected while OpenSSL
 * runs it: both application traffic secrets (from OpenSSL's key log hook)
 * and how many records OpenSSL already protected with the server's secret
 * (the session tickets it sends at the end of the handshake).
 *
 * That count is not guessed from the handshake's shape: every record
 * OpenSSL writes is reassembled here and, once the server's secret is
 * known, opened with our own keys at the next sequence number. Records of
 * the handshake proper do not open with them; every ticket must. So a
 * connection is handed over only when our keys, nonces and sequence
 * numbers have already reproduced OpenSSL's on this very connection;
 * anything unexpected leaves it with OpenSSL.
 */
struct handoff {
	uint8_t client_secret[TLS_RECORD_MAX_SECRET];
	uint8_t server_secret[TLS_RECORD_MAX_SECRET];
	uint8_t client_len, server_len;
	bool failed; /* something we cannot follow: stay with OpenSSL */
	bool probe_ready;
	uint64_t tx_records; /* records protected with the server's secret */
	struct buf out_record; /* the record OpenSSL is writing, reassembled */
	struct tls_record probe; /* keys from server_secret, for the check */
};

struct tls_conn {
	SSL *ssl; /* NULL once tls_record has taken over */
	struct tls_record *rec;
	struct handoff *handoff; /* during the handshake, when we may take over */
	const SSL_CIPHER *cipher; /* after the handover: OpenSSL's static table */
	struct outq *wire_out;
	/* Ciphertext being fed by tls_conn_input(); the read BIO takes from it. */
	const uint8_t *in;
	size_t in_len;
	bool handshake_done;
};

static void handoff_watch_output(struct tls_conn *tc, const uint8_t *data, size_t len);

/* ---- BIOs over our buffers ---- */

static BIO_METHOD *bio_method;

static int bio_read_cb(BIO *bio, char *out, int outlen)
{
	struct tls_conn *tc = BIO_get_data(bio);
	BIO_clear_retry_flags(bio);
	if (tc->in_len == 0) {
		BIO_set_retry_read(bio);
		return -1;
	}
	size_t n = tc->in_len < (size_t)outlen ? tc->in_len : (size_t)outlen;
	memcpy(out, tc->in, n);
	tc->in += n;
	tc->in_len -= n;
	return (int)n;
}

static int bio_write_cb(BIO *bio, const char *data, int len)
{
	struct tls_conn *tc = BIO_get_data(bio);
	BIO_clear_retry_flags(bio);
	outq_append(tc->wire_out, data, (size_t)len);
	if (tc->handoff != NULL)
		handoff_watch_output(tc, (const uint8_t *)data, (size_t)len);
	return len;
}

static long bio_ctrl_cb(BIO *bio, int cmd, long num, void *ptr)
{
	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1;
	case BIO_CTRL_PENDING: {
		struct tls_conn *tc = BIO_get_data(bio);
		return (long)tc->in_len;
	}
	case BIO_CTRL_WPENDING:
		return 0;
	default:
		return 0;
	}
}

static int bio_create_cb(BIO *bio)
{
	BIO_set_init(bio, 1);
	return 1;
}

static BIO_METHOD *get_bio_method(void)
{
	if (bio_method == NULL) {
		bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "petrel");
		if (bio_method == NULL)
			abort();
		BIO_meth_set_read(bio_method, bio_read_cb);
		BIO_meth_set_write(bio_method, bio_write_cb);
		BIO_meth_set_ctrl(bio_method, bio_ctrl_cb);
		BIO_meth_set_create(bio_method, bio_create_cb);
	}
	return bio_method;
}

void tls_global_deinit(void)
{
	if (bio_method != NULL)
		BIO_meth_free(bio_method);
	bio_method = NULL;
	tls_record_thread_deinit();
}

/* ---- server contexts ---- */

static char *openssl_error(void)
{
	unsigned long e = ERR_get_error();
	char text[256];
	if (e == 0)
		return xstrdup("unknown OpenSSL error");
	ERR_error_string_n(e, text, sizeof(text));
	ERR_clear_error();
	return xstrdup(text);
}

static void keylog_cb(const SSL *ssl, const char *line);

static SSL_CTX *build_ctx(const struct tls_server *srv, char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char *why;
	if (ctx == NULL) {
		why = openssl_error();
		*error_r = xasprintf("[tls]: cannot create context: %s", why);
		free(why);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, srv->min_protocol == TLS_MIN_1_3 ? TLS1_3_VERSION :
										TLS1_2_VERSION);
	/* Renegotiation only ever served attacks on servers like us. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
					 SSL_OP_NO_COMPRESSION);
	/* Idle connections give their 16+ KiB record buffers back. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* The secrets tls_record needs; nothing is logged anywhere. */
	if (srv->record_layer == TLS_RECORDS_PETREL)
		SSL_CTX_set_keylog_callback(ctx, keylog_cb);

	if (srv->ciphers[0] != '\0' && SSL_CTX_set_cipher_list(ctx, srv->ciphers) != 1) {
		*error_r = xasprintf("[tls] ciphers: no usable cipher in '%s'", srv->ciphers);
		goto fail;
	}
	if (srv->ciphersuites[0] != '\0' && SSL_CTX_set_ciphersuites(ctx, srv->ciphersuites) != 1) {
		*error_r = xasprintf("[tls] ciphersuites: no usable suite in '%s'",
				     srv->ciphersuites);
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, srv->cert_file) != 1) {
		why = openssl_error();
		*error_r = xasprintf("[tls] cert_file: %s: %s", srv->cert_file, why);
		free(why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, srv->key_file, SSL_FILETYPE_PEM) != 1) {
		why = openssl_error();
		*error_r = xasprintf("[tls] key_file: %s: %s", srv->key_file, why);
		free(why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = xasprintf("[tls] key_file: %s does not match cert_file %s",
				     srv->key_file, srv->cert_file);
		goto fail;
	}
	return ctx;
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

struct tls_server *tls_server_create(const struct settings *set, char **error_r)
{
	struct tls_server *srv = xcalloc(1, sizeof(*srv));
	srv->cert_file = xstrdup(set->tls.cert_file);
	srv->key_file = xstrdup(set->tls.key_file);
	srv->min_protocol = set->tls.min_protocol;
	srv->record_layer = set->tls.record_layer;
	srv->ciphers = xstrdup(set->tls.ciphers);
	srv->ciphersuites = xstrdup(set->tls.ciphersuites);
	srv->ctx = build_ctx(srv, error_r);
	if (srv->ctx == NULL) {
		tls_server_destroy(&srv);
		return NULL;
	}
	return srv;
}

int tls_server_reload(struct tls_server *srv, char **error_r)
{
	SSL_CTX *ctx = build_ctx(srv, error_r);
	if (ctx == NULL)
		return -1;
	/* Connections hold their own reference to the old context. */
	SSL_CTX_free(srv->ctx);
	srv->ctx = ctx;
	return 0;
}

void tls_server_destroy(struct tls_server **srvp)
{
	struct tls_server *srv = *srvp;
	if (srv == NULL)
		return;
	SSL_CTX_free(srv->ctx);
	free(srv->cert_file);
	free(srv->key_file);
	free(srv->ciphers);
	free(srv->ciphersuites);
	free(srv);
	*srvp = NULL;
}

/* ---- handing a TLS 1.3 connection over to tls_record ---- */

/* OpenSSL's key log lines look like "LABEL <client random> <secret>", in
   hex (the NSS key log format). */
static void keylog_cb(const SSL *ssl, const char *line)
{
	struct tls_conn *tc = SSL_get_app_data(ssl);
	if (tc == NULL || tc->handoff == NULL)
		return;
	struct handoff *h = tc->handoff;
	uint8_t *secret;
	uint8_t *secret_len;
	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0) {
		secret = h->client_secret;
		secret_len = &h->client_len;
	} else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0) {
		secret = h->server_secret;
		secret_len = &h->server_len;
	} else {
		return; /* handshake and exporter secrets */
	}
	const char *hex = strrchr(line, ' ') + 1;
	size_t hex_len = strlen(hex);
	if (hex_len % 2 != 0 || hex_len / 2 > TLS_RECORD_MAX_SECRET) {
		h->failed = true;
		return;
	}
	for (size_t i = 0; i < hex_len / 2; i++) {
		int hi = hex_digit_value(hex[2 * i]), lo = hex_digit_value(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			h->failed = true;
			return;
		}
		secret[i] = (uint8_t)(hi << 4 | lo);
	}
	*secret_len = (uint8_t)(hex_len / 2);
}

static const SSL_CIPHER *negotiated_cipher(const SSL *ssl)
{
	const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
	return cipher != NULL ? cipher : SSL_get_pending_cipher(ssl);
}

/* A whole record OpenSSL wrote: is it protected with the server's
   application secret, at the next sequence number? */
static void handoff_check_record(struct tls_conn *tc, const uint8_t *rec, size_t len)
{
	struct handoff *h = tc->handoff;
	if (rec[0] != 23 || h->server_len == 0)
		return; /* unprotected, or written before the secret existed */
	if (!h->probe_ready) {
		const SSL_CIPHER *cipher = negotiated_cipher(tc->ssl);
		if (cipher == NULL ||
		    tls_record_init(&h->probe, SSL_CIPHER_get_protocol_id(cipher), h->server_secret,
				    h->server_secret, h->server_len, 0, 0) < 0) {
			h->failed = true;
			return;
		}
		h->probe_ready = true;
	}
	struct tls_record_keys keys = h->probe.tx;
	keys.seq = h->tx_records;
	if (tls_record_open_copy(&h->probe, &keys, rec, len) >= 0)
		h->tx_records++;
	else if (h->tx_records > 0)
		h->failed = true; /* after the first such record, all must be */
	OPENSSL_cleanse(&keys, sizeof(keys));
}

static void handoff_watch_output(struct tls_conn *tc, const uint8_t *data, size_t len)
{
	struct handoff *h = tc->handoff;
	struct buf *r = &h->out_record;
	while (len > 0 && !h->failed) {
		size_t want = TLS_RECORD_HEADER - r->len;
		if (r->len >= TLS_RECORD_HEADER)
			want = TLS_RECORD_HEADER + ((size_t)r->data[3] << 8 | r->data[4]) - r->len;
		size_t n = len < want ? len : want;
		if (buf_append(r, data, n) < 0) {
			h->failed = true;
			return;
		}
		data += n;
		len -= n;
		if (r->len >= TLS_RECORD_HEADER &&
		    r->len == TLS_RECORD_HEADER + ((size_t)r->data[3] << 8 | r->data[4])) {
			handoff_check_record(tc, r->data, r->len);
			buf_clear(r);
		}
	}
}

static void handoff_free(struct handoff **hp)
{
	struct handoff *h = *hp;
	if (h == NULL)
		return;
	buf_free(&h->out_record);
	tls_record_clear(&h->probe);
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
	*hp = NULL;
}

/* Right after the handshake: take the connection over from OpenSSL when it
   is TLS 1.3 with a suite we have, and everything OpenSSL did is accounted
   for. Otherwise OpenSSL keeps it. */
static void handoff_finish(struct tls_conn *tc)
{
	struct handoff *h = tc->handoff;
	if (h == NULL)
		return;
	const SSL_CIPHER *cipher = negotiated_cipher(tc->ssl);
	bool ok = !h->failed && SSL_version(tc->ssl) == TLS1_3_VERSION && cipher != NULL &&
		  h->client_len > 0 && h->client_len == h->server_len &&
		  h->out_record.len == 0 && !SSL_has_pending(tc->ssl);
	if (ok) {
		/* The client's first application record is its number 0: with
		   read-ahead off OpenSSL has read nothing past its Finished. */
		struct tls_record *rec = xmalloc(sizeof(*rec));
		if (tls_record_init(rec, SSL_CIPHER_get_protocol_id(cipher), h->client_secret,
				    h->server_secret, h->client_len, 0, h->tx_records) == 0) {
			tc->rec = rec;
			tc->cipher = cipher;
			/* Nothing to send: this only keeps SSL_free() from
			   treating the session as broken. */
			SSL_set_shutdown(tc->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
			SSL_free(tc->ssl);
			tc->ssl = NULL;
		} else {
			free(rec);
		}
	}
	handoff_free(&tc->handoff);
}

/* ---- connections ---- */

struct tls_conn *tls_conn_create(struct tls_server *srv, struct outq *wire_out)
{
	struct tls_conn *tc = xcalloc(1, sizeof(*tc));
	tc->wire_out = wire_out;
	tc->ssl = SSL_new(srv->ctx);
	if (tc->ssl == NULL)
		abort(); /* only fails on allocation failure */
	BIO *rbio = BIO_new(get_bio_method());
	BIO *wbio = BIO_new(get_bio_method());
	if (rbio == NULL || wbio == NULL)
		abort();
	BIO_set_data(rbio, tc);
	BIO_set_data(wbio, tc);
	SSL_set_bio(tc->ssl, rbio, wbio);
	SSL_set_app_data(tc->ssl, tc);
	SSL_set_accept_state(tc->ssl);
	if (srv->record_layer == TLS_RECORDS_PETREL) {
		tc->handoff = xcalloc(1, sizeof(*tc->handoff));
		buf_init(&tc->handoff->out_record, TLS_RECORD_HEADER + 65535);
	}
	return tc;
}

void tls_conn_destroy(struct tls_conn **tcp)
{
	struct tls_conn *tc = *tcp;
	if (tc == NULL)
		return;
	SSL_free(tc->ssl);
	handoff_free(&tc->handoff);
	if (tc->rec != NULL) {
		tls_record_clear(tc->rec);
		free(tc->rec);
	}
	free(tc);
	*tcp = NULL;
}

static const char *ssl_error_text(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
	ERR_clear_error();
	return reason != NULL ? reason : "TLS protocol error";
}

static enum tls_input_result record_input(struct tls_conn *tc, const struct tls_io *io,
					  const char **error_r)
{
	enum tls_record_result r = tls_record_input(tc->rec, tc->in, tc->in_len, tc->wire_out,
						    io->plaintext, io->ctx, error_r);
	return r == TLS_RECORD_OK ? TLS_INPUT_OK :
	       r == TLS_RECORD_CLOSED ? TLS_INPUT_CLOSED :
					TLS_INPUT_ERROR;
}

enum tls_input_result tls_conn_input(struct tls_conn *tc, const uint8_t *data, size_t len,
				     const struct tls_io *io, const char **error_r)
{
	tc->in = data;
	tc->in_len = len;
	enum tls_input_result result = TLS_INPUT_OK;

	if (!tc->handshake_done) {
		int ret = SSL_do_handshake(tc->ssl);
		if (ret != 1) {
			int err = SSL_get_error(tc->ssl, ret);
			if (err == SSL_ERROR_WANT_READ)
				goto out;
			*error_r = err == SSL_ERROR_SSL ? ssl_error_text() : "handshake failed";
			result = TLS_INPUT_ERROR;
			goto out;
		}
		tc->handshake_done = true;
		handoff_finish(tc);
		io->handshake_done(io->ctx);
	}

	if (tc->rec != NULL) {
		result = record_input(tc, io, error_r);
		goto out;
	}
	for (;;) {
		uint8_t plain[16384];
		int n = SSL_read(tc->ssl, plain, sizeof(plain));
		if (n > 0) {
			io->plaintext(io->ctx, plain, (size_t)n);
			continue;
		}
		int err = SSL_get_error(tc->ssl, n);
		if (err == SSL_ERROR_WANT_READ)
			break;
		if (err == SSL_ERROR_ZERO_RETURN) {
			result = TLS_INPUT_CLOSED;
			break;
		}
		*error_r = err == SSL_ERROR_SSL ? ssl_error_text() : "TLS read failed";
		result = TLS_INPUT_ERROR;
		break;
	}
out:
	tc->in = NULL;
	tc->in_len = 0;
	return result;
}

int tls_conn_write(struct tls_conn *tc, const uint8_t *data, size_t len)
{
	if (tc->rec != NULL)
		return tls_record_write(tc->rec, tc->wire_out, data, len);
	while (len > 0) {
		int chunk = len > 65536 ? 65536 : (int)len;
		int n = SSL_write(tc->ssl, data, chunk);
		if (n <= 0) {
			ERR_clear_error();
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

void tls_conn_shutdown(struct tls_conn *tc)
{
	if (tc->rec != NULL) {
		tls_record_close_notify(tc->rec, tc->wire_out);
	} else if (tc->handshake_done) {
		SSL_shutdown(tc->ssl);
		ERR_clear_error();
	}
}

bool tls_conn_handshake_done(const struct tls_conn *tc)
{
	return tc->handshake_done;
}

bool tls_conn_own_records(const struct tls_conn *tc)
{
	return tc->rec != NULL;
}

const char *tls_conn_version(const struct tls_conn *tc)
{
	return tc->ssl != NULL ? SSL_get_version(tc->ssl) : "TLSv1.3";
}

const char *tls_conn_cipher(const struct tls_conn *tc)
{
	return tc->ssl != NULL ? SSL_get_cipher_name(tc->ssl) : SSL_CIPHER_get_name(tc->cipher);
}

int tls_conn_bits(const struct tls_conn *tc)
{
	return tc->ssl != NULL ? SSL_get_cipher_bits(tc->ssl, NULL) :
				 SSL_CIPHER_get_bits(tc->cipher, NULL);
}
