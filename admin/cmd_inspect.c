/*
 * petrelctl inspect FILE | USER MAILBOX UID: a JSON report on one message:
 * envelope and main header fields, the Received path, the MIME tree (type,
 * charset, encoding, size, file name, SHA-256 of each decoded leaf part),
 * and SPF, DKIM and DMARC verdicts from the same code lmtpd runs
 * (mailauth/), with the DNS servers of [lmtp] dns_servers or --dns.
 *
 * SPF needs the SMTP client's address, which a stored message does not
 * carry reliably: give it with --client-ip (and --helo); without it SPF is
 * reported as not evaluated. MAIL FROM defaults to the Return-Path field.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <uv.h>

#include "admin/cli.h"
#include "common/buf.h"
#include "common/mailheader.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "mailauth/mailauth.h"
#include "mailauth/resolver.h"
#include "store/mime.h"
#include "store/store.h"

/* A message larger than this is not something to inspect in memory. */
#define INSPECT_MAX_SIZE (256ULL * 1024 * 1024)

struct options {
	const char *file, *user, *mailbox, *uid;
	const char *dns, *client_ip, *mail_from, *helo;
	bool no_checks;
};

/* ------------------------------------------------------------ JSON text */

/* A JSON string from arbitrary bytes: invalid UTF-8 and NULs become
   U+FFFD, so one broken header cannot make the report unreadable. */
static json_t *jstr_n(const void *data, size_t len)
{
	const uint8_t *p = data;
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len(p + i, len - i);
		if (n == 0 || p[i] == '\0') {
			buf_append_str(&out, "\xEF\xBF\xBD");
			i++;
		} else {
			buf_append(&out, p + i, n);
			i += n;
		}
	}
	json_t *j = json_stringn((const char *)out.data, out.len);
	buf_free(&out);
	return j != NULL ? j : json_string("");
}

static json_t *jstr(const char *s)
{
	return s != NULL ? jstr_n(s, strlen(s)) : json_null();
}

/* ---------------------------------------------------------- the message */

/* Reads all of fd, with bare LF line ends turned into CRLF (files saved by
   other tools often have LF; DKIM and the parser want the wire form). */
static int read_message(int fd, struct buf *out, const char **error_r)
{
	uint8_t chunk[65536];
	ssize_t n;
	uint8_t prev = 0;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '\n' && prev != '\r')
				buf_append_byte(out, '\r');
			buf_append_byte(out, chunk[i]);
			prev = chunk[i];
		}
		if (out->len > INSPECT_MAX_SIZE) {
			*error_r = "message too large to inspect";
			return -1;
		}
	}
	if (n < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	return 0;
}

static int open_stored(struct cli_ctx *ctx, const struct options *o, int *fd_r)
{
	struct store_options opts;
	store_options_from_settings(&opts, &ctx->set, "petrelctl", false);
	struct store *store = NULL;
	struct store_user *u = NULL;
	struct store_view *v = NULL;
	struct store_view_status st;
	char *error = NULL;
	char *end;
	unsigned long uid = strtoul(o->uid, &end, 10);
	if (*end != '\0' || uid == 0 || uid > UINT32_MAX) {
		cli_error("invalid UID '%s'", o->uid);
		return 2;
	}
	int status = 1;
	if (store_open(&opts, &store, &error) < 0 ||
	    store_user_open(store, o->user, &u, &error) < 0 ||
	    store_view_open(u, o->mailbox, STORE_VIEW_READONLY, &v, &st, &error) < 0) {
		cli_error("%s", error != NULL ? error : "cannot open the mailbox");
		goto out;
	}
	int fd = store_view_open_message(v, (uint32_t)uid, &error);
	if (fd < 0) {
		cli_error("%s %s UID %lu: %s", o->user, o->mailbox, uid,
			  error != NULL ? error : store_strerror(fd));
		goto out;
	}
	*fd_r = fd;
	status = 0;
out:
	free(error);
	store_view_close(&v);
	store_user_close(&u);
	store_close(&store);
	return status;
}

/* -------------------------------------------------------------- headers */

struct header {
	const uint8_t *data;
	size_t len;
};

/* The unfolded value of a field (everything after the colon). */
static char *unfold(const uint8_t *v, size_t len)
{
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < len; i++) {
		if (v[i] == '\r' || v[i] == '\n')
			continue;
		if (v[i] == '\t')
			buf_append_byte(&out, ' ');
		else
			buf_append_byte(&out, v[i]);
	}
	size_t s = 0;
	while (s < out.len && out.data[s] == ' ')
		s++;
	char *r = xstrndup((const char *)out.data + s, out.len - s);
	buf_free(&out);
	return r;
}

/* The word after `key` in a Received value ("from", "by", "with", "id",
   "for"), or NULL. Comments in parentheses are skipped when looking. */
static char *received_word(const char *v, const char *key)
{
	size_t klen = strlen(key);
	int depth = 0;
	for (const char *p = v; *p; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0 && (p == v || p[-1] == ' ') && strncasecmp(p, key, klen) == 0 &&
			 p[klen] == ' ') {
			const char *w = p + klen + 1;
			while (*w == ' ')
				w++;
			size_t n = strcspn(w, " ;");
			return n > 0 ? xstrndup(w, n) : NULL;
		}
	}
	return NULL;
}

static json_t *received_entry(const char *v)
{
	json_t *e = json_object();
	static const char *const keys[] = { "from", "by", "with", "id", "for" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *w = received_word(v, keys[i]);
		if (w != NULL) {
			json_object_set_new(e, keys[i], jstr(w));
			free(w);
		}
	}
	const char *semi = strrchr(v, ';');
	if (semi != NULL) {
		const char *d = semi + 1;
		while (*d == ' ')
			d++;
		json_object_set_new(e, "date", jstr(d));
		int64_t t;
		int zone;
		if (mime_parse_date(d, &t, &zone) == 0)
			json_object_set_new(e, "time", json_integer(t));
	}
	json_object_set_new(e, "raw", jstr(v));
	return e;
}

/* Main fields and the Received path, from the top header block. */
static void report_headers(json_t *root, const uint8_t *h, size_t len, char **return_path_r)
{
	json_t *fields = json_object(), *received = json_array();
	static const char *const main_fields[] = {
		"Return-Path", "Delivered-To", "From", "Sender", "Reply-To", "To", "Cc",
		"Subject", "Date", "Message-ID", "In-Reply-To", "List-Id", "MIME-Version",
		"Content-Type",
	};
	size_t pos = 0, start, flen;
	while (mailheader_next_field(h, len, &pos, &start, &flen)) {
		size_t voff, nlen = mailheader_field_name(h + start, flen, &voff);
		if (nlen == 0)
			continue;
		const char *name = (const char *)h + start;
		char *value = unfold(h + start + voff, flen - voff);
		if (nlen == 8 && strncasecmp(name, "Received", 8) == 0) {
			json_array_append_new(received, received_entry(value));
		} else {
			for (size_t i = 0; i < sizeof(main_fields) / sizeof(main_fields[0]); i++) {
				const char *key = main_fields[i];
				if (strlen(key) != nlen || strncasecmp(name, key, nlen) != 0 ||
				    json_object_get(fields, key) != NULL)
					continue;
				/* Encoded words decoded, as a mail client shows them. */
				char *decoded = mime_decode_header(value, strlen(value));
				json_object_set_new(fields, key, jstr(decoded));
				free(decoded);
				if (i == 0 && *return_path_r == NULL)
					*return_path_r = xstrdup(value);
			}
		}
		free(value);
	}
	json_object_set_new(root, "headers", fields);
	json_object_set_new(root, "received", received);
}

/* ----------------------------------------------------------------- MIME */

static json_t *part_json(const struct buf *msg, const struct mime_part *part)
{
	json_t *j = json_object();
	struct mime_part_info info;
	mime_part_info_get(msg->data + part->header_offset, (size_t)part->header_size, &info);
	json_object_set_new(j, "type", jstr(info.type));
	if (info.charset != NULL)
		json_object_set_new(j, "charset", jstr(info.charset));
	json_object_set_new(j, "encoding", jstr(info.encoding));
	if (info.disposition != NULL)
		json_object_set_new(j, "disposition", jstr(info.disposition));
	if (info.filename != NULL)
		json_object_set_new(j, "filename", jstr(info.filename));
	json_object_set_new(j, "size", json_integer((json_int_t)part->body_size));
	json_object_set_new(j, "lines", json_integer(part->body_lines));
	if (part->kind == MIME_PART_LEAF) {
		/* Decoded content: what a user saving the attachment gets. */
		struct buf decoded = BUF_INIT;
		mime_decode_body(info.encoding, msg->data + part->body_offset, (size_t)part->body_size,
				 &decoded);
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		EVP_Digest(decoded.data != NULL ? decoded.data : (const uint8_t *)"", decoded.len, md,
			   &mdlen, EVP_sha256(), NULL);
		char hex[2 * EVP_MAX_MD_SIZE + 1];
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		json_object_set_new(j, "decoded_size", json_integer((json_int_t)decoded.len));
		json_object_set_new(j, "sha256", json_string(hex));
		buf_free(&decoded);
	}
	mime_part_info_free(&info);
	return j;
}

static json_t *mime_tree(const struct buf *msg, const struct mime_result *r)
{
	json_t **nodes = xcalloc(r->part_count, sizeof(json_t *));
	for (size_t i = 0; i < r->part_count; i++) {
		nodes[i] = part_json(msg, &r->parts[i]);
		uint32_t parent = r->parts[i].parent;
		if (parent != UINT32_MAX && parent < i) {
			json_t *kids = json_object_get(nodes[parent], "parts");
			if (kids == NULL) {
				kids = json_array();
				json_object_set_new(nodes[parent], "parts", kids);
			}
			json_array_append_new(kids, nodes[i]);
		}
	}
	json_t *root = r->part_count > 0 ? nodes[0] : json_object();
	free(nodes);
	return root;
}

/* --------------------------------------------------------------- checks */

struct dns_wait {
	bool done;
};

static void dns_done(void *arg)
{
	((struct dns_wait *)arg)->done = true;
}

/* "<a@b>" or "a@b" -> "a@b"; "<>" -> "". */
static char *strip_path(const char *v)
{
	const char *lt = strchr(v, '<'), *gt = lt != NULL ? strchr(lt, '>') : NULL;
	if (lt != NULL && gt != NULL)
		return xstrndup(lt + 1, (size_t)(gt - lt - 1));
	size_t n = strcspn(v, " \t");
	return xstrndup(v, n);
}

static json_t *checks_json(struct cli_ctx *ctx, const struct options *o, const struct buf *msg,
			   const struct mime_result *r, const char *return_path, int *status_r)
{
	struct mailauth_envelope env = { 0 };
	json_t *j = json_object();
	if (o->client_ip != NULL) {
		if (inet_pton(AF_INET, o->client_ip, env.ip) == 1) {
			env.ip_family = 4;
		} else if (inet_pton(AF_INET6, o->client_ip, env.ip) == 1) {
			env.ip_family = 6;
		} else {
			cli_error("--client-ip: not an IP address: %s", o->client_ip);
			*status_r = 2;
			return j;
		}
		env.have_ip = true;
	}
	char *mail_from = o->mail_from != NULL ? xstrdup(o->mail_from)
			  : return_path != NULL ? strip_path(return_path)
						: xstrdup("");
	env.mail_from = mail_from;
	env.helo = o->helo;
	struct mailauth_config cfg = {
		.check_spf = true,
		.check_dkim = true,
		.check_dmarc = true,
		.authserv_id = ctx->set.delivery.authserv_id,
		.receiver = ctx->set.server.hostname,
	};
	/* pct is a sampling rate for receivers; a report shows the policy as
	   if sampled in (roll 0). */
	struct mailauth_msg *m = mailauth_msg_new(&cfg, &env, time(NULL), 0);
	const struct mime_part *top = &r->parts[0];
	const uint8_t *h = msg->data + top->header_offset;
	size_t pos = 0, start, flen;
	while (mailheader_next_field(h, (size_t)top->header_size, &pos, &start, &flen))
		if (flen > 0)
			mailauth_msg_header(m, (const char *)h + start, flen);
	mailauth_msg_eoh(m);
	mailauth_msg_body(m, (const char *)msg->data + top->body_offset, (size_t)top->body_size);
	mailauth_msg_eom(m);

	uv_loop_t loop;
	uv_loop_init(&loop);
	struct dns_resolver *res = NULL;
	char *error = NULL;
	const char *servers = o->dns != NULL ? o->dns : ctx->set.delivery.dns_servers;
	if (dns_resolver_new(&loop, servers, (unsigned)ctx->set.delivery.dns_timeout_ms, &res,
			     &error) < 0) {
		cli_error("--dns: %s", error);
		free(error);
		*status_r = 2;
		goto out;
	}
	/* Each round answers what the last evaluation asked; SPF's limits
	   bound the rounds well below this. */
	for (int round = 0; round < 64; round++) {
		if (mailauth_msg_evaluate(m) != MAILAUTH_PENDING)
			break;
		struct dns_wait wait = { false };
		dns_resolver_fill(res, mailauth_msg_dns(m), dns_done, &wait);
		while (!wait.done)
			uv_run(&loop, UV_RUN_ONCE);
	}

	const struct spf_outcome *spf = mailauth_msg_spf(m);
	json_t *js = json_object();
	if (spf != NULL) {
		json_object_set_new(js, "result", jstr(mailauth_result_name(spf->result)));
		json_object_set_new(js, "identity", jstr(spf->identity));
		json_object_set_new(js, "domain", jstr(spf->domain));
		json_object_set_new(js, "sender", jstr(spf->sender));
		json_object_set_new(js, "client_ip", jstr(o->client_ip));
		json_object_set_new(js, "reason", jstr(spf->reason));
		if (spf->explanation[0] != '\0')
			json_object_set_new(js, "explanation", jstr(spf->explanation));
	} else {
		json_object_set_new(js, "result", jstr("not evaluated"));
		json_object_set_new(js, "reason", jstr("no client address (give --client-ip)"));
	}
	json_object_set_new(j, "spf", js);

	json_t *jd = json_array();
	const struct dkim_verifier *dkim = mailauth_msg_dkim(m);
	for (size_t i = 0; dkim != NULL && i < dkim_verifier_count(dkim); i++) {
		const struct dkim_signature_result *sig = dkim_verifier_signature(dkim, i);
		json_t *e = json_object();
		json_object_set_new(e, "result", jstr(mailauth_result_name(sig->result)));
		json_object_set_new(e, "domain", jstr(sig->domain));
		json_object_set_new(e, "selector", jstr(sig->selector));
		json_object_set_new(e, "identity", jstr(sig->identity));
		json_object_set_new(e, "algorithm", jstr(sig->algorithm));
		json_object_set_new(e, "header_b", jstr(sig->header_b));
		json_object_set_new(e, "reason", jstr(sig->reason));
		json_array_append_new(jd, e);
	}
	json_object_set_new(j, "dkim", jd);

	const struct dmarc_outcome *dmarc = mailauth_msg_dmarc(m);
	json_t *jm = json_object();
	if (dmarc != NULL) {
		json_object_set_new(jm, "result", jstr(mailauth_result_name(dmarc->result)));
		json_object_set_new(jm, "header_from", jstr(dmarc->header_from));
		json_object_set_new(jm, "policy_domain", jstr(dmarc->policy_domain));
		json_object_set_new(jm, "policy", jstr(dmarc_policy_name(dmarc->policy)));
		json_object_set_new(jm, "disposition", jstr(dmarc_policy_name(dmarc->disposition)));
		json_object_set_new(jm, "spf_aligned", json_boolean(dmarc->spf_aligned));
		json_object_set_new(jm, "dkim_aligned", json_boolean(dmarc->dkim_aligned));
		json_object_set_new(jm, "reason", jstr(dmarc->reason));
	}
	json_object_set_new(j, "dmarc", jm);
	char *ar = mailauth_msg_authres(m);
	json_object_set_new(j, "authentication_results", jstr(ar));
	free(ar);
out:
	if (res != NULL)
		dns_resolver_free(res);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	mailauth_msg_free(m);
	free(mail_from);
	return j;
}

/* ------------------------------------------------------------- command */

static int parse_options(int argc, char **argv, struct options *o)
{
	const char *pos[3];
	int npos = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		if (strcmp(a, "--dns") == 0)
			slot = &o->dns;
		else if (strcmp(a, "--client-ip") == 0)
			slot = &o->client_ip;
		else if (strcmp(a, "--mail-from") == 0)
			slot = &o->mail_from;
		else if (strcmp(a, "--helo") == 0)
			slot = &o->helo;
		else if (strcmp(a, "--no-checks") == 0) {
			o->no_checks = true;
			continue;
		} else if (a[0] == '-' && a[1] != '\0')
			return -1;
		if (slot != NULL) {
			if (i + 1 >= argc)
				return -1;
			*slot = argv[++i];
			continue;
		}
		if (npos == 3)
			return -1;
		pos[npos++] = a;
	}
	if (npos == 1) {
		o->file = pos[0];
	} else if (npos == 3) {
		o->user = pos[0];
		o->mailbox = pos[1];
		o->uid = pos[2];
	} else {
		return -1;
	}
	return 0;
}

static int cmd_inspect(struct cli_ctx *ctx, int argc, char **argv)
{
	struct options o = { 0 };
	if (parse_options(argc, argv, &o) < 0)
		return cli_usage(&cli_inspect_commands[0]);
	/* A file can be inspected without a configuration (defaults then);
	   a stored message needs it to find the store. */
	char *error = NULL;
	bool have_conf = access(ctx->config_path, R_OK) == 0;
	if (settings_load(&ctx->set, have_conf ? ctx->config_path : NULL, &error) < 0) {
		cli_error("%s", error);
		free(error);
		settings_free(&ctx->set);
		return 2;
	}
	int status = 0, fd = -1;
	if (o.file != NULL) {
		fd = strcmp(o.file, "-") == 0 ? dup(0) : open(o.file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			cli_error("%s: %s", o.file, strerror(errno));
			status = 1;
		}
	} else if (!have_conf) {
		cli_error("%s: %s (needed to find the store)", ctx->config_path, strerror(errno));
		status = 2;
	} else {
		status = open_stored(ctx, &o, &fd);
	}
	struct buf msg = BUF_INIT;
	const char *why;
	if (status == 0 && read_message(fd, &msg, &why) < 0) {
		cli_error("%s: %s", o.file != NULL ? o.file : "message", why);
		status = 1;
	}
	if (fd >= 0)
		close(fd);
	if (status != 0) {
		buf_free(&msg);
		settings_free(&ctx->set);
		return status;
	}

	struct mime_parser *p = mime_parser_create(&MIME_DEFAULT_LIMITS, NULL, NULL);
	mime_parser_feed(p, msg.data, msg.len);
	struct mime_result *r = mime_parser_finish(p);

	json_t *root = json_object();
	if (o.file != NULL) {
		json_object_set_new(root, "file", jstr(o.file));
	} else {
		json_t *src = json_object();
		json_object_set_new(src, "user", jstr(o.user));
		json_object_set_new(src, "mailbox", jstr(o.mailbox));
		json_object_set_new(src, "uid", json_integer(strtol(o.uid, NULL, 10)));
		json_object_set_new(root, "stored", src);
	}
	json_object_set_new(root, "size", json_integer((json_int_t)msg.len));
	char *return_path = NULL;
	report_headers(root, msg.data + r->parts[0].header_offset, (size_t)r->parts[0].header_size,
		       &return_path);
	json_object_set_new(root, "mime", mime_tree(&msg, r));
	if (!o.no_checks)
		json_object_set_new(root, "authentication",
				    checks_json(ctx, &o, &msg, r, return_path, &status));
	if (status == 0) {
		json_dumpf(root, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	}
	json_decref(root);
	free(return_path);
	mime_result_free(&r);
	buf_free(&msg);
	settings_free(&ctx->set);
	return status;
}

const struct cli_command cli_inspect_commands[] = {
	{ "inspect", "FILE|USER MAILBOX UID [--dns SERVERS] [--client-ip IP] [--helo NAME] "
		     "[--mail-from ADDR] [--no-checks]",
	  "JSON report: headers, Received path, MIME tree, SPF/DKIM/DMARC verdicts",
	  false, cmd_inspect },
	{ NULL, NULL, NULL, false, NULL },
};
