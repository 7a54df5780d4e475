/*
 * One message's checks, driven by replay evaluation (see dns.h): each
 * evaluate() runs SPF, DKIM and DMARC as far as the cached answers allow.
 */
#include "mailauth/mailauth.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "mailauth/authres.h"

struct mailauth_msg {
	struct mailauth_config cfg;
	struct mailauth_envelope env;
	char *helo, *mail_from, *authserv_id, *receiver; /* owned copies */
	struct dns_cache *dns;
	unsigned pct_roll;

	bool spf_done, dkim_done, dmarc_done;
	struct spf_outcome spf;
	struct dkim_verifier *dkim;
	struct dmarc_outcome dmarc;

	unsigned from_fields;
	char *from_domain; /* of the first From field; unused when from_fields != 1 */
	bool eoh, eom;
};

static char *dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct mailauth_msg *mailauth_msg_new(const struct mailauth_config *cfg,
				      const struct mailauth_envelope *env, time_t now,
				      unsigned pct_roll)
{
	struct mailauth_msg *m = xcalloc(1, sizeof(*m));
	m->cfg = *cfg;
	m->env = *env;
	m->helo = dup_or_null(env->helo);
	m->mail_from = xstrdup(env->mail_from != NULL ? env->mail_from : "");
	m->authserv_id = xstrdup(cfg->authserv_id);
	m->receiver = xstrdup(cfg->receiver != NULL ? cfg->receiver : "localhost");
	m->env.helo = m->helo;
	m->env.mail_from = m->mail_from;
	m->cfg.authserv_id = m->authserv_id;
	m->cfg.receiver = m->receiver;
	m->dns = dns_cache_new();
	m->pct_roll = pct_roll % 100;
	if (cfg->check_dkim || cfg->check_dmarc)
		m->dkim = dkim_verifier_new(now);
	/* Without a client address there is nothing for SPF to check. */
	if (!cfg->check_spf || !env->have_ip)
		m->spf_done = true;
	if (!cfg->check_dmarc)
		m->dmarc_done = true;
	return m;
}

void mailauth_msg_free(struct mailauth_msg *m)
{
	if (m == NULL)
		return;
	dkim_verifier_free(m->dkim);
	dns_cache_free(m->dns);
	free(m->helo);
	free(m->mail_from);
	free(m->authserv_id);
	free(m->receiver);
	free(m->from_domain);
	free(m);
}

void mailauth_msg_header(struct mailauth_msg *m, const char *field, size_t len)
{
	if (m->dkim != NULL)
		dkim_verifier_header(m->dkim, field, len);
	const char *colon = memchr(field, ':', len);
	if (colon == NULL)
		return;
	size_t name_len = (size_t)(colon - field);
	while (name_len > 0 && (field[name_len - 1] == ' ' || field[name_len - 1] == '\t'))
		name_len--;
	if (name_len == 4 && strncasecmp(field, "from", 4) == 0) {
		if (m->from_fields++ == 0)
			m->from_domain = mailauth_from_domain(colon + 1, len - name_len - 1);
	}
}

void mailauth_msg_eoh(struct mailauth_msg *m)
{
	m->eoh = true;
	if (m->dkim != NULL) {
		dkim_verifier_eoh(m->dkim);
		/* Queue the key lookups now: they resolve while the body arrives. */
		(void)dkim_verifier_result(m->dkim, m->dns);
	}
	const char *from = mailauth_msg_from_domain(m);
	if (m->cfg.check_dmarc && from != NULL) {
		/* Likewise the DMARC record; dmarc_check asks for it again later. */
		char name[300];
		if ((size_t)snprintf(name, sizeof(name), "_dmarc.%s", from) < sizeof(name))
			(void)dns_cache_get(m->dns, name, DNS_T_TXT);
	}
}

void mailauth_msg_body(struct mailauth_msg *m, const char *data, size_t len)
{
	if (m->dkim != NULL)
		dkim_verifier_body(m->dkim, data, len);
}

void mailauth_msg_eom(struct mailauth_msg *m)
{
	if (!m->eoh)
		mailauth_msg_eoh(m);
	m->eom = true;
	if (m->dkim != NULL)
		dkim_verifier_eom(m->dkim);
}

enum mailauth_result mailauth_msg_evaluate(struct mailauth_msg *m)
{
	bool pending = false;
	if (!m->spf_done) {
		struct spf_request req = {
			.ip_family = m->env.ip_family,
			.helo = m->env.helo,
			.mail_from = m->env.mail_from,
			.receiver = m->cfg.receiver,
		};
		memcpy(req.ip, m->env.ip, sizeof(req.ip));
		if (spf_check(m->dns, &req, &m->spf) == MAILAUTH_PENDING)
			pending = true;
		else
			m->spf_done = true;
	}
	if (!m->eom)
		return MAILAUTH_PENDING;
	if (!m->dkim_done) {
		if (m->dkim == NULL || dkim_verifier_result(m->dkim, m->dns) != MAILAUTH_PENDING)
			m->dkim_done = true;
		else
			pending = true;
	}
	if (pending)
		return MAILAUTH_PENDING;
	if (!m->dmarc_done) {
		const char *pass_domains[DKIM_MAX_SIGNATURES];
		size_t npass = 0;
		size_t nsig = m->dkim != NULL ? dkim_verifier_count(m->dkim) : 0;
		for (size_t i = 0; i < nsig && npass < DKIM_MAX_SIGNATURES; i++) {
			const struct dkim_signature_result *sig = dkim_verifier_signature(m->dkim, i);
			if (sig->result == MAILAUTH_PASS)
				pass_domains[npass++] = sig->domain;
		}
		bool spf_ran = m->cfg.check_spf && m->env.have_ip;
		struct dmarc_request req = {
			.from_domain = mailauth_msg_from_domain(m),
			.spf_result = spf_ran ? m->spf.result : MAILAUTH_NONE,
			.spf_domain = spf_ran ? m->spf.domain : NULL,
			.dkim_pass_domains = pass_domains,
			.dkim_pass_count = npass,
			.pct_roll = m->pct_roll,
		};
		if (dmarc_check(m->dns, &req, &m->dmarc) == MAILAUTH_PENDING)
			return MAILAUTH_PENDING;
		m->dmarc_done = true;
	}
	return MAILAUTH_NONE;
}

struct dns_cache *mailauth_msg_dns(struct mailauth_msg *m)
{
	return m->dns;
}

const struct spf_outcome *mailauth_msg_spf(const struct mailauth_msg *m)
{
	return m->cfg.check_spf && m->env.have_ip && m->spf_done ? &m->spf : NULL;
}

const struct dkim_verifier *mailauth_msg_dkim(const struct mailauth_msg *m)
{
	return m->cfg.check_dkim && m->dkim_done ? m->dkim : NULL;
}

const struct dmarc_outcome *mailauth_msg_dmarc(const struct mailauth_msg *m)
{
	return m->cfg.check_dmarc && m->dmarc_done ? &m->dmarc : NULL;
}

const char *mailauth_msg_from_domain(const struct mailauth_msg *m)
{
	return m->from_fields == 1 ? m->from_domain : NULL;
}

char *mailauth_msg_authres(const struct mailauth_msg *m)
{
	char ip[INET6_ADDRSTRLEN] = "";
	if (m->env.have_ip)
		inet_ntop(m->env.ip_family == 4 ? AF_INET : AF_INET6, m->env.ip, ip, sizeof(ip));
	struct authres_input in = {
		.authserv_id = m->cfg.authserv_id,
		.client_ip = ip,
		.spf = mailauth_msg_spf(m),
		.dkim = mailauth_msg_dkim(m),
		.dmarc = mailauth_msg_dmarc(m),
	};
	return authres_format(&in);
}

/* ------------------------------------------------------------ From domain */

/* A copy of the value with comments removed, quoted strings blanked to
   'x' (so '@', ',' and '<' inside them mean nothing) and folding turned
   into spaces. */
static char *clean_address_value(const char *value, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;
	unsigned depth = 0;
	bool quoted = false;
	for (size_t i = 0; i < len; i++) {
		char c = value[i];
		if (c == '\r' || c == '\n' || c == '\t')
			c = ' ';
		if (quoted) {
			if (c == '\\' && i + 1 < len) {
				i++;
				out[n++] = 'x';
			} else if (c == '"') {
				quoted = false;
				out[n++] = '"';
			} else {
				out[n++] = 'x';
			}
			continue;
		}
		if (depth > 0) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (c == '(') {
			depth = 1;
			out[n++] = ' ';
		} else if (c == '"') {
			quoted = true;
			out[n++] = '"';
		} else {
			out[n++] = c;
		}
	}
	out[n] = '\0';
	return out;
}

static bool valid_domain(const char *d)
{
	if (*d == '\0' || *d == '.')
		return false;
	for (const char *p = d; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(isalnum(c) || c == '-' || c == '.' || c >= 0x80))
			return false;
		if (c == '.' && (p[1] == '.' || p[1] == '\0'))
			return false;
	}
	return true;
}

char *mailauth_from_domain(const char *value, size_t len)
{
	char *clean = clean_address_value(value, len);
	char *found = NULL;
	unsigned mailboxes = 0;
	bool bad = false;
	/* Group syntax "name: a, b;" and list commas all separate items. */
	char *item = clean;
	bool in_angle = false;
	for (char *p = clean;; p++) {
		if (*p == '<')
			in_angle = true;
		else if (*p == '>')
			in_angle = false;
		bool separator = *p == '\0' ||
				 (!in_angle && (*p == ',' || *p == ';' || *p == ':'));
		if (!separator)
			continue;
		char end = *p;
		*p = '\0';
		char *addr = item;
		char *lt = strchr(item, '<');
		if (lt != NULL) {
			addr = lt + 1;
			char *gt = strchr(addr, '>');
			if (gt == NULL)
				bad = true;
			else
				*gt = '\0';
			/* With a source route "<@a,@b:x@y>" the last "@" still gives y. */
		}
		char *at = strrchr(addr, '@');
		if (at != NULL) {
			char *dom = at + 1;
			while (*dom == ' ')
				dom++;
			size_t dl = strlen(dom);
			while (dl > 0 && dom[dl - 1] == ' ')
				dl--;
			dom[dl] = '\0';
			mailboxes++;
			if (mailboxes == 1 && valid_domain(dom))
				found = xstrdup(dom);
		}
		if (end == '\0')
			break;
		item = p + 1;
	}
	free(clean);
	if (bad || mailboxes != 1) {
		free(found);
		return NULL;
	}
	if (found != NULL)
		for (char *c = found; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	return found;
}
