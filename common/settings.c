#include "common/settings.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

#define OPT(sec, field, key, type, def) \
	{ sec, key, type, offsetof(struct settings, field), def, 0, 0, NULL }
#define OPT_RANGE(sec, field, key, type, def, lo, hi) \
	{ sec, key, type, offsetof(struct settings, field), def, lo, hi, NULL }
#define OPT_ENUM(sec, field, key, def, choices) \
	{ sec, key, CONFIG_ENUM, offsetof(struct settings, field), def, 0, 0, choices }

static const char *const log_choices[] = { "auto", "stderr", "syslog", NULL };
static const char *const level_choices[] = { "debug", "info", "warning", "error", NULL };
static const char *const tls_choices[] = { "TLSv1.2", "TLSv1.3", NULL };
static const char *const record_layer_choices[] = { "petrel", "openssl", NULL };
static const char *const dmarc_action_choices[] = { "tag", "junk", "reject", NULL };

#define KIB 1024ULL
#define MIB (1024ULL * 1024)
#define SERVICE_OPTS(sec, field, listen_def, tls_def, idle_def) \
	OPT(sec, field.listen, "listen", CONFIG_LISTEN, listen_def), \
	OPT(sec, field.listen_tls, "listen_tls", CONFIG_LISTEN, tls_def), \
	OPT_RANGE(sec, field.idle_timeout_ms, "idle_timeout", CONFIG_DURATION, idle_def, \
		  1000, 0)

const struct config_option settings_options[] = {
	OPT("server", server.hostname, "hostname", CONFIG_STRING, ""),
	OPT("server", server.data_dir, "data_dir", CONFIG_PATH, "/var/lib/petrel"),
	OPT("server", server.run_dir, "run_dir", CONFIG_PATH, "/run/petrel"),
	OPT_ENUM("server", server.log, "log", "auto", log_choices),
	OPT_ENUM("server", server.log_level, "log_level", "info", level_choices),
	OPT("server", server.syslog_facility, "syslog_facility", CONFIG_STRING, "mail"),
	OPT("server", server.user, "user", CONFIG_STRING, ""),
	OPT_RANGE("server", server.worker_threads, "worker_threads", CONFIG_UINT, "16", 1, 128),
	OPT("server", server.haproxy_trusted_networks, "haproxy_trusted_networks",
	    CONFIG_NETWORKS, ""),

	OPT("tls", tls.cert_file, "cert_file", CONFIG_PATH, ""),
	OPT("tls", tls.key_file, "key_file", CONFIG_PATH, ""),
	OPT_ENUM("tls", tls.min_protocol, "min_protocol", "TLSv1.2", tls_choices),
	OPT("tls", tls.ciphers, "ciphers", CONFIG_STRING, ""),
	OPT("tls", tls.ciphersuites, "ciphersuites", CONFIG_STRING, ""),
	OPT_ENUM("tls", tls.record_layer, "record_layer", "petrel", record_layer_choices),

	OPT("auth", auth.mechanisms, "mechanisms", CONFIG_STRING,
	    "PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-1 CRAM-MD5"),
	OPT("auth", auth.sasldb_path, "sasldb_path", CONFIG_PATH, ""),
	OPT("auth", auth.allow_plaintext_auth, "allow_plaintext_auth", CONFIG_BOOL, "no"),
	OPT_RANGE("auth", auth.failure_delay_ms, "failure_delay", CONFIG_DURATION, "2s", 0,
		  60000),
	OPT_RANGE("auth", auth.failure_delay_max_ms, "failure_delay_max", CONFIG_DURATION, "15s",
		  0, 300000),
	OPT_RANGE("auth", auth.failure_window_ms, "failure_window", CONFIG_DURATION, "5m", 1000,
		  0),
	OPT_RANGE("auth", auth.max_failures, "max_failures", CONFIG_UINT, "3", 1, 100),

	OPT_RANGE("limits", limits.max_connections, "max_connections", CONFIG_UINT, "10000", 1,
		  1000000),
	OPT_RANGE("limits", limits.max_connections_per_ip, "max_connections_per_ip", CONFIG_UINT,
		  "200", 1, 1000000),
	OPT_RANGE("limits", limits.max_connections_per_user, "max_connections_per_user",
		  CONFIG_UINT, "10", 1, 100000),
	OPT_RANGE("limits", limits.login_timeout_ms, "login_timeout", CONFIG_DURATION, "60s",
		  1000, 0),
	OPT_RANGE("limits", limits.max_preauth_line_length, "max_preauth_line_length",
		  CONFIG_SIZE, "8k", 512, 1 * MIB),
	OPT_RANGE("limits", limits.max_line_length, "max_line_length", CONFIG_SIZE, "64k",
		  1 * KIB, 64 * MIB),
	OPT_RANGE("limits", limits.max_literal_size, "max_literal_size", CONFIG_SIZE, "64k",
		  1 * KIB, 64 * MIB),
	OPT_RANGE("limits", limits.output_buffer_size, "output_buffer_size", CONFIG_SIZE,
		  "256k", 16 * KIB, 64 * MIB),
	OPT_RANGE("limits", limits.max_bad_commands, "max_bad_commands", CONFIG_UINT, "10", 1,
		  1000),

	OPT("quota", quota.storage, "storage", CONFIG_SIZE, "0"),
	OPT("quota", quota.messages, "messages", CONFIG_UINT, "0"),

	SERVICE_OPTS("imap", imap, "*:143, [::]:143", "*:993, [::]:993", "30m"),
	SERVICE_OPTS("pop3", pop3, "*:110, [::]:110", "*:995, [::]:995", "10m"),
	OPT("pop3", maildrop.mark_seen, "mark_seen", CONFIG_BOOL, "yes"),
	OPT("pop3", maildrop.expire, "expire", CONFIG_STRING, ""),
	OPT_RANGE("pop3", maildrop.login_delay_ms, "login_delay", CONFIG_DURATION, "0", 0,
		  24 * 3600 * 1000),
	SERVICE_OPTS("lmtp", lmtp, "unix:/run/petrel/lmtp", "", "5m"),
	OPT_RANGE("lmtp", delivery.max_message_size, "max_message_size", CONFIG_SIZE, "50M",
		  1024, 4 * 1024 * MIB),
	OPT_RANGE("lmtp", delivery.max_recipients, "max_recipients", CONFIG_UINT, "100", 1,
		  100000),
	OPT_RANGE("lmtp", delivery.max_header_size, "max_header_size", CONFIG_SIZE, "1M",
		  4 * KIB, 64 * MIB),
	OPT("lmtp", delivery.recipient_delimiter, "recipient_delimiter", CONFIG_STRING, "+"),
	OPT("lmtp", delivery.quota_full_tempfail, "quota_full_tempfail", CONFIG_BOOL, "no"),
	OPT("lmtp", delivery.xforward_trusted_networks, "xforward_trusted_networks",
	    CONFIG_NETWORKS, "127.0.0.0/8, ::1"),
	OPT("lmtp", delivery.xforward_trust_unix_socket, "xforward_trust_unix_socket",
	    CONFIG_BOOL, "yes"),
	OPT("lmtp", delivery.dns_servers, "dns_servers", CONFIG_STRING, ""),
	OPT_RANGE("lmtp", delivery.dns_timeout_ms, "dns_timeout", CONFIG_DURATION, "5s", 100,
		  60000),
	OPT("lmtp", delivery.authserv_id, "authserv_id", CONFIG_STRING, ""),
	OPT("lmtp", delivery.check_spf, "check_spf", CONFIG_BOOL, "yes"),
	OPT("lmtp", delivery.check_dkim, "check_dkim", CONFIG_BOOL, "yes"),
	OPT("lmtp", delivery.check_dmarc, "check_dmarc", CONFIG_BOOL, "yes"),
	OPT_ENUM("lmtp", delivery.dmarc_quarantine_action, "dmarc_quarantine_action", "junk",
		 dmarc_action_choices),
	OPT_ENUM("lmtp", delivery.dmarc_reject_action, "dmarc_reject_action", "junk",
		 dmarc_action_choices),
};

const size_t settings_options_count = sizeof(settings_options) / sizeof(settings_options[0]);

/* [pop3] expire: "" (not announced), "never", or a number of days. */
static int parse_expire(const char *text, int *days_r)
{
	if (text[0] == '\0') {
		*days_r = SETTINGS_EXPIRE_UNSET;
		return 0;
	}
	if (strcasecmp(text, "never") == 0) {
		*days_r = SETTINGS_EXPIRE_NEVER;
		return 0;
	}
	int days = 0;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || p - text >= 5)
			return -1;
		days = days * 10 + (*p - '0');
	}
	if (days > SETTINGS_EXPIRE_MAX_DAYS)
		return -1;
	*days_r = days;
	return 0;
}

int settings_load(struct settings *set, const char *path, char **error_r)
{
	memset(set, 0, sizeof(*set));
	if (config_load(settings_options, settings_options_count, set, path, error_r) < 0)
		return -1;

	const char *file = path != NULL ? path : "(defaults)";
	if (set->server.hostname[0] == '\0') {
		char name[256];
		if (gethostname(name, sizeof(name) - 1) < 0)
			strcpy(name, "localhost");
		name[sizeof(name) - 1] = '\0';
		free(set->server.hostname);
		set->server.hostname = xstrdup(name);
	}
	if (set->auth.sasldb_path[0] == '\0') {
		free(set->auth.sasldb_path);
		set->auth.sasldb_path = xasprintf("%s/sasldb2", set->server.data_dir);
	}
	if (set->delivery.authserv_id[0] == '\0') {
		free(set->delivery.authserv_id);
		set->delivery.authserv_id = xstrdup(set->server.hostname);
	}
	if (log_facility_parse(set->server.syslog_facility) < 0) {
		*error_r = xasprintf("%s: [server] syslog_facility: unknown facility '%s'", file,
				     set->server.syslog_facility);
		return -1;
	}
	if (parse_expire(set->maildrop.expire, &set->maildrop.expire_days) < 0) {
		*error_r = xasprintf("%s: [pop3] expire: '%s' is not empty, 'never' or a number of "
				     "days (0-%d)", file, set->maildrop.expire, SETTINGS_EXPIRE_MAX_DAYS);
		return -1;
	}
	if ((set->tls.cert_file[0] == '\0') != (set->tls.key_file[0] == '\0')) {
		*error_r = xasprintf("%s: [tls] cert_file and key_file must be set together",
				     file);
		return -1;
	}
	return 0;
}

void settings_free(struct settings *set)
{
	config_free(settings_options, settings_options_count, set);
}
