/*
 * TLS 1.3 record protection after the handshake, done by us instead of
 * OpenSSL: what kernel TLS does in the kernel, done in user space.
 *
 * Why: an established OpenSSL 3.0 connection holds about 14 KiB (the SSL
 * object alone is 7.6 KiB) for as long as it lives, even with its buffers
 * released, and most of a mail server's TLS connections sit in IDLE for
 * hours. After a TLS 1.3 handshake all that is needed to go on is, per
 * direction, the traffic secret, the key and IV derived from it, and a
 * sequence number: a few hundred bytes. tls.c hands a connection over to
 * this module once the handshake is done and frees the SSL object; TLS 1.2
 * connections and suites other than the three below stay with OpenSSL.
 *
 * What is implemented is RFC 8446 section 5 (record layer) and the two
 * post-handshake messages a server can meet: KeyUpdate (section 4.6.3), in
 * both directions, and alerts (section 6). The AEAD itself is OpenSSL's
 * (EVP); the cipher contexts are shared per thread and re-keyed per record,
 * so a connection holds keys, not contexts.
 *
 * Input may arrive split anywhere; a record that is not complete yet is kept
 * in a buffer that exists only while such a part is waiting. Output records
 * (application data, the KeyUpdate reply, alerts) are appended to the
 * connection's output queue.
 */
#ifndef PETREL_COMMON_TLS_RECORD_H
#define PETREL_COMMON_TLS_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/outq.h"

/* TLS 1.3 cipher suites (IANA values) this module can protect records with. */
#define TLS_RECORD_AES_128_GCM_SHA256 0x1301
#define TLS_RECORD_AES_256_GCM_SHA384 0x1302
#define TLS_RECORD_CHACHA20_POLY1305_SHA256 0x1303

#define TLS_RECORD_MAX_SECRET 48 /* SHA-384 */
#define TLS_RECORD_MAX_PLAINTEXT 16384
/* RFC 8446 5.2: the protected record may be 256 bytes over the plaintext. */
#define TLS_RECORD_MAX_CIPHERTEXT (TLS_RECORD_MAX_PLAINTEXT + 256)
#define TLS_RECORD_HEADER 5

/* One direction's keys. Replaced as a whole on KeyUpdate. */
struct tls_record_keys {
	uint8_t secret[TLS_RECORD_MAX_SECRET];
	uint8_t key[32];
	uint8_t iv[12];
	uint64_t seq;
};

struct tls_record {
	uint16_t suite;
	uint8_t hash_len; /* bytes of secret: 32 or 48 */
	uint8_t key_len;  /* 16 or 32 */
	bool rx_closed;	  /* close_notify or a fatal alert received, or a fatal one sent */
	bool tx_closed;	  /* close_notify or a fatal alert sent */
	struct tls_record_keys rx, tx;
	/* The start of a record whose remaining bytes have not arrived yet. */
	struct buf partial;
};

enum tls_record_result {
	TLS_RECORD_OK = 0,	 /* all input consumed */
	TLS_RECORD_CLOSED = 1,	 /* the peer sent close_notify */
	TLS_RECORD_ERROR = -1,	 /* fatal; an alert has been queued */
};

bool tls_record_suite_supported(uint16_t suite);

/* Sets up both directions from the application traffic secrets
   (client_application_traffic_secret_0 for rx on a server). Sequence numbers
   start at rx_seq and tx_seq: records the peer or OpenSSL already protected
   with these secrets. Returns -1 if the suite is not supported or the
   lengths do not fit it. */
int tls_record_init(struct tls_record *r, uint16_t suite, const uint8_t *rx_secret,
		    const uint8_t *tx_secret, size_t secret_len, uint64_t rx_seq, uint64_t tx_seq);
/* Wipes the keys and frees the partial record. */
void tls_record_clear(struct tls_record *r);

/* Consumes all of data: decrypts complete records, passes application data
   to plaintext(), answers KeyUpdate requests into out. After an error or
   close the rest of the input is ignored. *error_r (static text) says why
   on TLS_RECORD_ERROR. */
enum tls_record_result tls_record_input(struct tls_record *r, const uint8_t *data, size_t len,
					struct outq *out,
					void (*plaintext)(void *ctx, const uint8_t *data, size_t len),
					void *ctx, const char **error_r);

/* Encrypts application data into records of at most 16 KiB. Returns -1 once
   the connection is closed. */
int tls_record_write(struct tls_record *r, struct outq *out, const uint8_t *data, size_t len);
/* One record of any content type (at most TLS_RECORD_MAX_PLAINTEXT bytes),
   as a peer would send it: for tests and the fuzz target. Returns -1 once
   the connection is closed or when len is too long. */
int tls_record_send(struct tls_record *r, struct outq *out, uint8_t content_type,
		    const uint8_t *data, size_t len);
/* Queues close_notify; later writes fail. */
void tls_record_close_notify(struct tls_record *r, struct outq *out);

/* Decrypts one whole record (header included) with keys, without changing
   them. For tls.c's check that OpenSSL's records and ours agree. Returns
   the inner content type, or -1. */
int tls_record_open_copy(const struct tls_record *r, const struct tls_record_keys *keys,
			 const uint8_t *record, size_t len);

/* Frees this thread's cipher contexts (at exit). */
void tls_record_thread_deinit(void);

#endif
