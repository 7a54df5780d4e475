/*
 * The options of petrel.conf, shared by every Petrel program.
 *
 * Every binary reads the whole file and validates every section, so a typo is
 * reported by whichever program starts first. conf/petrel.conf documents each
 * option; tests/unit/common/test_settings.c fails when an option below is
 * missing from it.
 */
#ifndef PETREL_COMMON_SETTINGS_H
#define PETREL_COMMON_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

enum log_target_setting { LOG_AUTO, LOG_STDERR, LOG_SYSLOG };
enum tls_min_setting { TLS_MIN_1_2, TLS_MIN_1_3 };
/* Who protects TLS 1.3 records once the handshake is done (tls_record.h). */
enum tls_record_layer_setting { TLS_RECORDS_PETREL, TLS_RECORDS_OPENSSL };
/* What lmtpd does with a message that fails DMARC under a policy. */
enum dmarc_action_setting { DMARC_ACTION_TAG, DMARC_ACTION_JUNK, DMARC_ACTION_REJECT };
/* [pop3] expire, parsed (other values are days). */
#define SETTINGS_EXPIRE_UNSET (-2) /* not announced */
#define SETTINGS_EXPIRE_NEVER (-1)
#define SETTINGS_EXPIRE_MAX_DAYS 36500

/* One protocol's listeners and timeouts ([imap], [pop3], [lmtp]). */
struct service_settings {
	struct listen_list listen;     /* plaintext (STARTTLS/STLS offered when TLS is set up) */
	struct listen_list listen_tls; /* implicit TLS */
	uint64_t idle_timeout_ms;      /* after login (LMTP: between commands) */
};

struct settings {
	struct {
		char *hostname;
		char *data_dir;
		char *run_dir;
		int log;	 /* enum log_target_setting */
		int log_level;	 /* enum log_level */
		char *syslog_facility;
		char *user;	 /* drop privileges to this account; empty: stay */
		struct cidr_list haproxy_trusted_networks;
		unsigned int worker_threads; /* libuv thread pool: store commits, lookups */
	} server;
	struct {
		char *cert_file;
		char *key_file;
		int min_protocol; /* enum tls_min_setting */
		char *ciphers;
		char *ciphersuites;
		int record_layer; /* enum tls_record_layer_setting */
	} tls;
	struct {
		char *mechanisms;
		char *sasldb_path;
		bool allow_plaintext_auth;
		uint64_t failure_delay_ms;
		uint64_t failure_delay_max_ms;
		uint64_t failure_window_ms;
		unsigned int max_failures;
	} auth;
	struct {
		unsigned int max_connections;
		unsigned int max_connections_per_ip;
		unsigned int max_connections_per_user;
		uint64_t login_timeout_ms;
		uint64_t max_preauth_line_length;
		uint64_t max_line_length;
		uint64_t max_literal_size;
		uint64_t output_buffer_size;
		unsigned int max_bad_commands;
	} limits;
	struct {
		uint64_t storage;  /* default per-user limit in bytes; 0 = unlimited */
		unsigned int messages;
	} quota;
	struct service_settings imap;
	struct service_settings pop3;
	struct service_settings lmtp;
	/* The rest of [pop3]: what sessions do with the maildrop. */
	struct {
		bool mark_seen;		  /* RETR sets \Seen (applied when the session ends) */
		char *expire;		  /* RFC 2449 EXPIRE as written: "", "never" or days */
		int expire_days;	  /* parsed: SETTINGS_EXPIRE_UNSET, _NEVER, or days */
		uint64_t login_delay_ms;  /* RFC 2449 LOGIN-DELAY; 0 = none */
	} maildrop;
	/* The rest of [lmtp]: delivery and the final checks. */
	struct {
		uint64_t max_message_size;
		unsigned int max_recipients;
		uint64_t max_header_size;
		char *recipient_delimiter;    /* "" = no subaddressing */
		bool quota_full_tempfail;     /* 452 4.2.2 instead of 552 5.2.2 */
		struct cidr_list xforward_trusted_networks;
		bool xforward_trust_unix_socket;
		char *dns_servers;	      /* "" = /etc/resolv.conf */
		uint64_t dns_timeout_ms;
		char *authserv_id;	      /* "" = [server] hostname */
		bool check_spf, check_dkim, check_dmarc;
		int dmarc_quarantine_action;  /* enum dmarc_action_setting */
		int dmarc_reject_action;
	} delivery;
};

extern const struct config_option settings_options[];
extern const size_t settings_options_count;

/*
 * Loads `path` into *set (defaults for everything not in the file) and fills
 * in derived values: hostname from the system, sasldb_path under data_dir.
 * Returns 0, or -1 with *error_r (malloc'd, names file, line and option).
 */
int settings_load(struct settings *set, const char *path, char **error_r);
void settings_free(struct settings *set);

#endif
