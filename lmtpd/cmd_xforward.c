/*
 * XFORWARD (Postfix) and XCLIENT (the form Dovecot's LMTP accepts): the MTA
 * tells us who the original SMTP client was, so the SPF check and our
 * Received: field describe that client rather than the MTA. Only trusted
 * clients may use them ([lmtp] xforward_trusted_networks and
 * xforward_trust_unix_socket); others could otherwise forge an SPF pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "lmtpd/lmtp_session.h"

bool lmtp_client_trusted(const struct lmtp_session *s)
{
	const struct settings *set = &s->conn.srv->set;
	if (s->conn.peer.ss_family == AF_UNIX)
		return set->delivery.xforward_trust_unix_socket;
	return cidr_list_match(&set->delivery.xforward_trusted_networks,
			       (const struct sockaddr *)&s->conn.peer);
}

void lmtp_client_info_clear(struct lmtp_client_info *ci)
{
	free(ci->addr);
	free(ci->name);
	free(ci->helo);
	free(ci->proto);
	memset(ci, 0, sizeof(*ci));
}

/* Postfix writes IPv6 addresses as "IPV6:2001:db8::1". */
static char *addr_value(const char *v)
{
	if (strncasecmp(v, "IPV6:", 5) == 0)
		v += 5;
	return xstrdup(v);
}

/* Applies "NAME=value ..." to *ci; values are xtext for XFORWARD, plain
   for XCLIENT. "[UNAVAILABLE]" and "[TEMPUNAVAIL]" clear an attribute.
   Returns 0, or -1 with *error_r. */
static int apply_attributes(struct lmtp_client_info *ci, struct span args, bool xtext,
			    const char **error_r)
{
	struct span key, value;
	int ret;
	unsigned n = 0;
	while ((ret = smtp_param_next(&args, &key, &value)) > 0) {
		n++;
		char *v = xtext ? smtp_xtext_decode(value) : span_strdup(value);
		if (v == NULL || value.len == 0) {
			free(v);
			*error_r = "Invalid attribute value";
			return -1;
		}
		bool unavailable = strcmp(v, "[UNAVAILABLE]") == 0 || strcmp(v, "[TEMPUNAVAIL]") == 0;
		char **slot = NULL;
		if (span_eq_ci(key, "ADDR"))
			slot = &ci->addr;
		else if (span_eq_ci(key, "NAME"))
			slot = &ci->name;
		else if (span_eq_ci(key, "HELO"))
			slot = &ci->helo;
		else if (span_eq_ci(key, "PROTO"))
			slot = &ci->proto;
		/* PORT, IDENT, SOURCE, LOGIN, DESTADDR, ...: accepted, unused. */
		if (slot != NULL) {
			free(*slot);
			*slot = unavailable ? NULL : (slot == &ci->addr ? addr_value(v) : xstrdup(v));
		}
		free(v);
	}
	if (ret < 0 || n == 0) {
		*error_r = "Syntax: attribute=value ...";
		return -1;
	}
	ci->forwarded = true;
	if (ci->addr != NULL) {
		struct cidr cidr;
		const char *why;
		if (cidr_parse(ci->addr, &cidr, &why) < 0 || strchr(ci->addr, '/') != NULL) {
			*error_r = "ADDR is not an IP address";
			free(ci->addr);
			ci->addr = NULL;
			return -1;
		}
	}
	return 0;
}

/* The checks XFORWARD and XCLIENT share; false when a reply was sent. */
static bool forward_accepted(struct lmtp_session *s, const char *cmd, struct span args,
			     bool xtext)
{
	if (!lmtp_client_trusted(s)) {
		lmtp_reply(s, "550 5.7.0", "%s not allowed from this client.", cmd);
		lmtp_bad_command(s);
		return false;
	}
	if (s->txn.active) {
		lmtp_reply(s, "503 5.5.1", "%s not allowed in a mail transaction.", cmd);
		return false;
	}
	const char *error;
	if (apply_attributes(&s->client, args, xtext, &error) < 0) {
		lmtp_reply(s, "501 5.5.4", "%s", error);
		lmtp_bad_command(s);
		return false;
	}
	return true;
}

void lmtp_cmd_xforward(struct lmtp_session *s, struct span args)
{
	if (forward_accepted(s, "XFORWARD", args, true))
		lmtp_reply(s, "250 2.0.0", "Ok");
}

void lmtp_cmd_xclient(struct lmtp_session *s, struct span args)
{
	if (!forward_accepted(s, "XCLIENT", args, false))
		return;
	/* As with Postfix's XCLIENT, the session starts over as if the
	   original client had connected: a new greeting, then LHLO. */
	free(s->lhlo_name);
	s->lhlo_name = NULL;
	lmtp_reply(s, "220 2.0.0", "%s Petrel LMTP ready", s->conn.srv->set.server.hostname);
}
