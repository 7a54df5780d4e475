#include "common/tls.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/xalloc.h"

struct tls_server {
	SSL_CTX *ctx;
	char *cert_file;
	char *key_file;
	int min_protocol;
	char *ciphers;
	char *ciphersuites;
};

struct tls_conn {
	SSL *ssl;
	struct outq *wire_out;
	/* Ciphertext being fed by tls_conn_input(); the read BIO takes from it. */
	const uint8_t *in;
	size_t in_len;
	bool handshake_done;
};

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
	SSL_set_accept_state(tc->ssl);
	return tc;
}

void tls_conn_destroy(struct tls_conn **tcp)
{
	struct tls_conn *tc = *tcp;
	if (tc == NULL)
		return;
	SSL_free(tc->ssl);
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
		io->handshake_done(io->ctx);
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
	if (tc->handshake_done) {
		SSL_shutdown(tc->ssl);
		ERR_clear_error();
	}
}

bool tls_conn_handshake_done(const struct tls_conn *tc)
{
	return tc->handshake_done;
}

const char *tls_conn_version(const struct tls_conn *tc)
{
	return SSL_get_version(tc->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *tc)
{
	return SSL_get_cipher_name(tc->ssl);
}

int tls_conn_bits(const struct tls_conn *tc)
{
	return SSL_get_cipher_bits(tc->ssl, NULL);
}
