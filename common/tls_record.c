#include "common/tls_record.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* Record content types (RFC 8446 5.1). */
enum {
	CT_ALERT = 21,
	CT_HANDSHAKE = 22,
	CT_APPLICATION_DATA = 23,
};

/* Alert descriptions we send or act on (RFC 8446 6). */
enum {
	ALERT_CLOSE_NOTIFY = 0,
	ALERT_UNEXPECTED_MESSAGE = 10,
	ALERT_BAD_RECORD_MAC = 20,
	ALERT_RECORD_OVERFLOW = 22,
	ALERT_ILLEGAL_PARAMETER = 47,
	ALERT_DECODE_ERROR = 50,
	ALERT_INTERNAL_ERROR = 80,
	ALERT_USER_CANCELED = 90,
};

#define HS_KEY_UPDATE 24
#define TAG_LEN 16
/* We start a KeyUpdate of our own long before AES-GCM's limit of 2^24.5
   full records per key (RFC 8446 5.5). */
#define TX_REKEY_AFTER (UINT64_C(1) << 23)

/* ---- ciphers: one context per suite and direction, per thread ---- */

static int suite_index(uint16_t suite)
{
	switch (suite) {
	case TLS_RECORD_AES_128_GCM_SHA256:
		return 0;
	case TLS_RECORD_AES_256_GCM_SHA384:
		return 1;
	case TLS_RECORD_CHACHA20_POLY1305_SHA256:
		return 2;
	default:
		return -1;
	}
}

bool tls_record_suite_supported(uint16_t suite)
{
	return suite_index(suite) >= 0;
}

static _Thread_local EVP_CIPHER_CTX *cipher_ctx[3][2];

/* A context with the suite's cipher chosen; the key and nonce are set per
   record, which costs far less than keeping a context per connection. */
static EVP_CIPHER_CTX *cipher_for(uint16_t suite, bool encrypt)
{
	int i = suite_index(suite);
	if (i < 0)
		abort(); /* tls_record_init() refused other suites */
	EVP_CIPHER_CTX **slot = &cipher_ctx[i][encrypt ? 1 : 0];
	if (*slot == NULL) {
		const EVP_CIPHER *cipher = i == 0 ? EVP_aes_128_gcm() :
				       i == 1 ? EVP_aes_256_gcm() :
						EVP_chacha20_poly1305();
		EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
		if (ctx == NULL || EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, encrypt) != 1)
			abort(); /* only fails on allocation failure */
		*slot = ctx;
	}
	return *slot;
}

void tls_record_thread_deinit(void)
{
	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; j < 2; j++) {
			EVP_CIPHER_CTX_free(cipher_ctx[i][j]);
			cipher_ctx[i][j] = NULL;
		}
	}
}

/* ---- key schedule (RFC 8446 7.1, 7.3) ---- */

/* HKDF-Expand-Label(secret, label, "", out_len). Every output we need is at
   most one hash block long, so HKDF-Expand is a single HMAC. */
static void expand_label(const struct tls_record *r, const uint8_t *secret, const char *label,
			 uint8_t *out, size_t out_len)
{
	uint8_t info[2 + 1 + 6 + 16 + 1 + 1];
	size_t label_len = strlen(label);
	size_t n = 0;
	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)(6 + label_len);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, label_len);
	n += label_len;
	info[n++] = 0; /* empty context */
	info[n++] = 1; /* HKDF-Expand's block counter */

	uint8_t block[EVP_MAX_MD_SIZE];
	unsigned int block_len = 0;
	const EVP_MD *md = r->hash_len == 48 ? EVP_sha384() : EVP_sha256();
	if (HMAC(md, secret, r->hash_len, info, n, block, &block_len) == NULL ||
	    block_len < out_len)
		abort();
	memcpy(out, block, out_len);
	OPENSSL_cleanse(block, sizeof(block));
}

static void keys_from_secret(const struct tls_record *r, struct tls_record_keys *k)
{
	expand_label(r, k->secret, "key", k->key, r->key_len);
	expand_label(r, k->secret, "iv", k->iv, sizeof(k->iv));
	k->seq = 0;
}

/* RFC 8446 7.2: the next generation of a direction's secret. */
static void key_update(const struct tls_record *r, struct tls_record_keys *k)
{
	uint8_t next[TLS_RECORD_MAX_SECRET];
	expand_label(r, k->secret, "traffic upd", next, r->hash_len);
	memcpy(k->secret, next, r->hash_len);
	OPENSSL_cleanse(next, sizeof(next));
	keys_from_secret(r, k);
}

int tls_record_init(struct tls_record *r, uint16_t suite, const uint8_t *rx_secret,
		    const uint8_t *tx_secret, size_t secret_len, uint64_t rx_seq, uint64_t tx_seq)
{
	memset(r, 0, sizeof(*r));
	size_t hash_len = suite == TLS_RECORD_AES_256_GCM_SHA384 ? 48 : 32;
	if (!tls_record_suite_supported(suite) || secret_len != hash_len)
		return -1;
	r->suite = suite;
	r->hash_len = (uint8_t)hash_len;
	r->key_len = suite == TLS_RECORD_AES_128_GCM_SHA256 ? 16 : 32;
	memcpy(r->rx.secret, rx_secret, hash_len);
	memcpy(r->tx.secret, tx_secret, hash_len);
	keys_from_secret(r, &r->rx);
	keys_from_secret(r, &r->tx);
	r->rx.seq = rx_seq;
	r->tx.seq = tx_seq;
	buf_init(&r->partial, TLS_RECORD_HEADER + TLS_RECORD_MAX_CIPHERTEXT);
	return 0;
}

void tls_record_clear(struct tls_record *r)
{
	buf_free(&r->partial);
	OPENSSL_cleanse(&r->rx, sizeof(r->rx));
	OPENSSL_cleanse(&r->tx, sizeof(r->tx));
}

/* ---- protection (RFC 8446 5.2, 5.3) ---- */

static void make_nonce(const struct tls_record_keys *k, uint8_t nonce[12])
{
	memcpy(nonce, k->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (uint8_t)(k->seq >> (8 * i));
}

/* Encrypts content + type into out: header, ciphertext, tag. out has room
   for TLS_RECORD_HEADER + len + 1 + TAG_LEN. Returns the record's length. */
static size_t seal(const struct tls_record *r, struct tls_record_keys *k, uint8_t type,
		   const uint8_t *data, size_t len, uint8_t *out)
{
	size_t body = len + 1 + TAG_LEN;
	out[0] = CT_APPLICATION_DATA;
	out[1] = 0x03;
	out[2] = 0x03;
	out[3] = (uint8_t)(body >> 8);
	out[4] = (uint8_t)body;

	uint8_t nonce[12];
	make_nonce(k, nonce);
	EVP_CIPHER_CTX *ctx = cipher_for(r->suite, true);
	int n;
	uint8_t *ct = out + TLS_RECORD_HEADER;
	if (EVP_EncryptInit_ex(ctx, NULL, NULL, k->key, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &n, out, TLS_RECORD_HEADER) != 1 ||
	    (len > 0 && EVP_EncryptUpdate(ctx, ct, &n, data, (int)len) != 1) ||
	    EVP_EncryptUpdate(ctx, ct + len, &n, &type, 1) != 1 ||
	    EVP_EncryptFinal_ex(ctx, ct + len + 1, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_LEN, ct + len + 1) != 1)
		abort(); /* cannot fail with valid keys */
	k->seq++;
	return TLS_RECORD_HEADER + body;
}

/* Decrypts a whole record into out (room for its body). Returns the
   plaintext length including the type byte and padding, or -1 when the
   record does not authenticate. */
static long open_record(const struct tls_record *r, const struct tls_record_keys *k,
			const uint8_t *rec, size_t rec_len, uint8_t *out)
{
	if (rec_len < TLS_RECORD_HEADER + 1 + TAG_LEN)
		return -1;
	size_t ct_len = rec_len - TLS_RECORD_HEADER - TAG_LEN;
	uint8_t nonce[12], tag[TAG_LEN];
	make_nonce(k, nonce);
	memcpy(tag, rec + rec_len - TAG_LEN, TAG_LEN);
	EVP_CIPHER_CTX *ctx = cipher_for(r->suite, false);
	int n;
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &n, rec, TLS_RECORD_HEADER) != 1 ||
	    EVP_DecryptUpdate(ctx, out, &n, rec + TLS_RECORD_HEADER, (int)ct_len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_LEN, tag) != 1 ||
	    EVP_DecryptFinal_ex(ctx, out + ct_len, &n) != 1)
		return -1;
	return (long)ct_len;
}

int tls_record_open_copy(const struct tls_record *r, const struct tls_record_keys *keys,
			 const uint8_t *record, size_t len)
{
	uint8_t plain[TLS_RECORD_MAX_CIPHERTEXT];
	if (len > TLS_RECORD_HEADER + TLS_RECORD_MAX_CIPHERTEXT)
		return -1;
	long n = open_record(r, keys, record, len, plain);
	while (n > 0 && plain[n - 1] == 0)
		n--;
	return n > 0 ? plain[n - 1] : -1;
}

static void send_record(struct tls_record *r, struct outq *out, uint8_t type,
			const uint8_t *data, size_t len)
{
	uint8_t rec[TLS_RECORD_HEADER + TLS_RECORD_MAX_PLAINTEXT + 1 + TAG_LEN];
	size_t n = seal(r, &r->tx, type, data, len, rec);
	outq_append(out, rec, n);
}

static void send_alert(struct tls_record *r, struct outq *out, uint8_t description)
{
	if (r->tx_closed)
		return;
	/* RFC 8446 6: the level is ignored in TLS 1.3, but close_notify and
	   user_canceled are warnings and everything else is fatal. */
	const uint8_t alert[2] = { description == ALERT_CLOSE_NOTIFY ? 1 : 2, description };
	send_record(r, out, CT_ALERT, alert, sizeof(alert));
	r->tx_closed = true;
}

/* Our own KeyUpdate: sent with the old keys, which are then replaced. */
static void send_key_update(struct tls_record *r, struct outq *out)
{
	static const uint8_t msg[5] = { HS_KEY_UPDATE, 0, 0, 1, 0 /* update_not_requested */ };
	send_record(r, out, CT_HANDSHAKE, msg, sizeof(msg));
	key_update(r, &r->tx);
}

int tls_record_write(struct tls_record *r, struct outq *out, const uint8_t *data, size_t len)
{
	if (r->tx_closed)
		return -1;
	while (len > 0) {
		if (r->tx.seq >= TX_REKEY_AFTER)
			send_key_update(r, out);
		size_t n = len < TLS_RECORD_MAX_PLAINTEXT ? len : TLS_RECORD_MAX_PLAINTEXT;
		send_record(r, out, CT_APPLICATION_DATA, data, n);
		data += n;
		len -= n;
	}
	return 0;
}

int tls_record_send(struct tls_record *r, struct outq *out, uint8_t content_type,
		    const uint8_t *data, size_t len)
{
	if (r->tx_closed || len > TLS_RECORD_MAX_PLAINTEXT)
		return -1;
	send_record(r, out, content_type, data, len);
	return 0;
}

void tls_record_close_notify(struct tls_record *r, struct outq *out)
{
	send_alert(r, out, ALERT_CLOSE_NOTIFY);
}

/* ---- input ---- */

static enum tls_record_result fail(struct tls_record *r, struct outq *out, uint8_t alert,
				   const char *why, const char **error_r)
{
	send_alert(r, out, alert);
	r->rx_closed = true;
	*error_r = why;
	return TLS_RECORD_ERROR;
}

/* Post-handshake handshake messages: a server can only be sent KeyUpdate
   (no tickets, and we never ask for post-handshake authentication). Every
   message must be whole within the record, and a KeyUpdate must end it
   (RFC 8446 5.1: no message may span a key change). */
static enum tls_record_result handshake_messages(struct tls_record *r, const uint8_t *p,
						 size_t len, struct outq *out,
						 const char **error_r)
{
	if (len == 0)
		return fail(r, out, ALERT_UNEXPECTED_MESSAGE, "empty handshake record", error_r);
	while (len > 0) {
		if (len < 4)
			return fail(r, out, ALERT_UNEXPECTED_MESSAGE,
				    "fragmented post-handshake message", error_r);
		size_t body = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
		if (body > len - 4)
			return fail(r, out, ALERT_UNEXPECTED_MESSAGE,
				    "fragmented post-handshake message", error_r);
		if (p[0] != HS_KEY_UPDATE)
			return fail(r, out, ALERT_UNEXPECTED_MESSAGE,
				    "unexpected post-handshake message", error_r);
		if (body != 1)
			return fail(r, out, ALERT_DECODE_ERROR, "malformed KeyUpdate", error_r);
		if (p[4] > 1)
			return fail(r, out, ALERT_ILLEGAL_PARAMETER, "malformed KeyUpdate",
				    error_r);
		if (len != 5)
			return fail(r, out, ALERT_UNEXPECTED_MESSAGE,
				    "data after KeyUpdate in its record", error_r);
		key_update(r, &r->rx);
		if (p[4] == 1 && !r->tx_closed) /* update_requested */
			send_key_update(r, out);
		len = 0;
	}
	return TLS_RECORD_OK;
}

static enum tls_record_result one_record(struct tls_record *r, const uint8_t *rec, size_t rec_len,
					 struct outq *out,
					 void (*plaintext)(void *, const uint8_t *, size_t),
					 void *ctx, const char **error_r)
{
	if (rec[0] != CT_APPLICATION_DATA)
		return fail(r, out, ALERT_UNEXPECTED_MESSAGE, "unprotected record after handshake",
			    error_r);
	if (r->rx.seq == UINT64_MAX)
		return fail(r, out, ALERT_INTERNAL_ERROR, "record sequence exhausted", error_r);

	uint8_t plain[TLS_RECORD_MAX_CIPHERTEXT];
	long n = open_record(r, &r->rx, rec, rec_len, plain);
	if (n < 0)
		return fail(r, out, ALERT_BAD_RECORD_MAC, "bad record MAC", error_r);
	r->rx.seq++;
	/* The content type is the last non-zero byte; zeros after it are padding. */
	while (n > 0 && plain[n - 1] == 0)
		n--;
	if (n == 0)
		return fail(r, out, ALERT_UNEXPECTED_MESSAGE, "record without content type",
			    error_r);
	uint8_t type = plain[--n];
	if (n > TLS_RECORD_MAX_PLAINTEXT)
		return fail(r, out, ALERT_RECORD_OVERFLOW, "record too long", error_r);

	switch (type) {
	case CT_APPLICATION_DATA:
		if (n > 0)
			plaintext(ctx, plain, (size_t)n);
		return TLS_RECORD_OK;
	case CT_HANDSHAKE:
		return handshake_messages(r, plain, (size_t)n, out, error_r);
	case CT_ALERT:
		if (n != 2)
			return fail(r, out, ALERT_DECODE_ERROR, "malformed alert", error_r);
		if (plain[1] == ALERT_CLOSE_NOTIFY) {
			r->rx_closed = true;
			return TLS_RECORD_CLOSED;
		}
		if (plain[1] == ALERT_USER_CANCELED)
			return TLS_RECORD_OK; /* close_notify follows */
		r->rx_closed = r->tx_closed = true;
		*error_r = "peer sent a fatal alert";
		return TLS_RECORD_ERROR;
	default:
		return fail(r, out, ALERT_UNEXPECTED_MESSAGE, "unknown record content type",
			    error_r);
	}
}

static size_t body_length(const uint8_t *header)
{
	return (size_t)header[3] << 8 | header[4];
}

enum tls_record_result tls_record_input(struct tls_record *r, const uint8_t *data, size_t len,
					struct outq *out,
					void (*plaintext)(void *ctx, const uint8_t *data, size_t len),
					void *ctx, const char **error_r)
{
	while (len > 0 && !r->rx_closed) {
		const uint8_t *rec;
		size_t rec_len;
		bool buffered = false;

		if (r->partial.len == 0 && len >= TLS_RECORD_HEADER &&
		    len >= TLS_RECORD_HEADER + body_length(data)) {
			/* The common case: a whole record in the input. */
			rec = data;
			rec_len = TLS_RECORD_HEADER + body_length(data);
		} else {
			/* Collect the header, then exactly the rest of the record. */
			size_t want = TLS_RECORD_HEADER - r->partial.len;
			if (r->partial.len >= TLS_RECORD_HEADER)
				want = TLS_RECORD_HEADER + body_length(r->partial.data) -
				       r->partial.len;
			size_t n = len < want ? len : want;
			if (buf_append(&r->partial, data, n) < 0)
				return fail(r, out, ALERT_INTERNAL_ERROR, "out of memory", error_r);
			data += n;
			len -= n;
			if (r->partial.len < TLS_RECORD_HEADER)
				continue;
			size_t body = body_length(r->partial.data);
			if (body > TLS_RECORD_MAX_CIPHERTEXT)
				return fail(r, out, ALERT_RECORD_OVERFLOW, "record too long", error_r);
			if (r->partial.len < TLS_RECORD_HEADER + body) {
				/* One allocation for the whole record. */
				if (buf_reserve(&r->partial, TLS_RECORD_HEADER + body -
								 r->partial.len) < 0)
					return fail(r, out, ALERT_INTERNAL_ERROR,
						    "out of memory", error_r);
				continue;
			}
			rec = r->partial.data;
			rec_len = r->partial.len;
			buffered = true;
		}
		if (rec_len - TLS_RECORD_HEADER > TLS_RECORD_MAX_CIPHERTEXT)
			return fail(r, out, ALERT_RECORD_OVERFLOW, "record too long", error_r);

		enum tls_record_result res =
			one_record(r, rec, rec_len, out, plaintext, ctx, error_r);
		if (buffered) {
			buf_clear(&r->partial);
		} else {
			data += rec_len;
			len -= rec_len;
		}
		if (res != TLS_RECORD_OK)
			return res;
	}
	/* Idle connections keep no buffer. */
	if (r->partial.len == 0)
		buf_free(&r->partial);
	return TLS_RECORD_OK;
}
