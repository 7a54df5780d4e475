/*
 * TLS with OpenSSL, driven through our own buffers rather than the socket.
 *
 * struct tls_server holds the SSL_CTX built from [tls]; tls_server_reload()
 * builds a fresh one from the same files (SIGHUP) and swaps it in only if it
 * loads cleanly. Connections keep a reference to the context they started
 * with, so a reload never disturbs them.
 *
 * struct tls_conn is one connection's TLS state. Ciphertext from the socket
 * goes in through tls_conn_input(); ciphertext OpenSSL produces (handshake,
 * records, alerts) is appended straight to the connection's output queue by a
 * write BIO. Neither direction keeps a buffer of its own while idle, and
 * SSL_MODE_RELEASE_BUFFERS lets OpenSSL drop its record buffers, so an idle
 * TLS connection stays small.
 *
 * With [tls] record_layer = petrel (the default), a TLS 1.3 connection is
 * handed to tls_record.c right after its handshake and the SSL object is
 * freed: an established connection then holds keys and sequence numbers
 * only. See tls_record.h.
 */
#ifndef PETREL_COMMON_TLS_H
#define PETREL_COMMON_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/outq.h"
#include "common/settings.h"

struct tls_server;
struct tls_conn;

/* Returns NULL with *error_r (malloc'd, names the option) when the files are
   unusable. Call only when cert_file and key_file are set. */
struct tls_server *tls_server_create(const struct settings *set, char **error_r);
/* Reloads certificate and key. On failure the old context stays in use. */
int tls_server_reload(struct tls_server *srv, char **error_r);
void tls_server_destroy(struct tls_server **srv);

struct tls_io {
	void *ctx;
	/* Called once, when the handshake completes. */
	void (*handshake_done)(void *ctx);
	/* Called with each piece of decrypted application data. */
	void (*plaintext)(void *ctx, const uint8_t *data, size_t len);
};

struct tls_conn *tls_conn_create(struct tls_server *srv, struct outq *wire_out);
void tls_conn_destroy(struct tls_conn **tc);

enum tls_input_result {
	TLS_INPUT_OK = 0,	  /* all input consumed (maybe more is needed) */
	TLS_INPUT_CLOSED = 1,	  /* the peer sent close_notify */
	TLS_INPUT_ERROR = -1,	  /* fatal: handshake failure, bad record, ... */
};

/* Consumes all of data. *error_r (static text) explains TLS_INPUT_ERROR. */
enum tls_input_result tls_conn_input(struct tls_conn *tc, const uint8_t *data, size_t len,
				     const struct tls_io *io, const char **error_r);
/* Encrypts data into the output queue. Only after the handshake. Returns 0 or
   -1 (fatal). */
int tls_conn_write(struct tls_conn *tc, const uint8_t *data, size_t len);
/* Queues a close_notify alert. */
void tls_conn_shutdown(struct tls_conn *tc);

bool tls_conn_handshake_done(const struct tls_conn *tc);
/* True once Petrel's record layer has taken over from OpenSSL (tls_record.h). */
bool tls_conn_own_records(const struct tls_conn *tc);
/* For logs: "TLSv1.3", "TLS_AES_256_GCM_SHA384"; bits of the cipher. */
const char *tls_conn_version(const struct tls_conn *tc);
const char *tls_conn_cipher(const struct tls_conn *tc);
int tls_conn_bits(const struct tls_conn *tc);

/* Frees process-wide OpenSSL state we created (BIO methods). */
void tls_global_deinit(void);

#endif
