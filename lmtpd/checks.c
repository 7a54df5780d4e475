/*
 * Drives one transaction's SPF/DKIM/DMARC checks (mailauth/) with the
 * process's resolver: lookups run while the message is still arriving,
 * and the final verdict waits only for what is still missing.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "lmtpd/lmtp_session.h"
#include "mailauth/mailauth.h"
#include "mailauth/resolver.h"

/* The original client's address: XFORWARD/XCLIENT, else the TCP peer;
   false for a unix socket without XFORWARD. */
static bool client_ip(const struct lmtp_session *s, struct mailauth_envelope *env)
{
	if (s->client.addr != NULL) {
		if (inet_pton(AF_INET, s->client.addr, env->ip) == 1) {
			env->ip_family = 4;
			return true;
		}
		if (inet_pton(AF_INET6, s->client.addr, env->ip) == 1) {
			struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
			memcpy(&sin6.sin6_addr, env->ip, 16);
			struct netaddr_key key;
			netaddr_key((const struct sockaddr *)&sin6, &key);
			env->ip_family = key.family;
			memcpy(env->ip, key.addr, sizeof(env->ip));
			return true;
		}
		return false;
	}
	if (s->client.forwarded)
		return false;
	struct netaddr_key key;
	netaddr_key((const struct sockaddr *)&s->conn.peer, &key);
	if (key.family == 0)
		return false;
	env->ip_family = key.family;
	memcpy(env->ip, key.addr, sizeof(env->ip));
	return true;
}

void lmtp_checks_start(struct lmtp_session *s)
{
	const struct settings *set = &s->conn.srv->set;
	if (!set->delivery.check_spf && !set->delivery.check_dkim && !set->delivery.check_dmarc)
		return;
	struct mailauth_config cfg = {
		.check_spf = set->delivery.check_spf,
		.check_dkim = set->delivery.check_dkim,
		.check_dmarc = set->delivery.check_dmarc,
		.authserv_id = set->delivery.authserv_id,
		.receiver = set->server.hostname,
	};
	struct mailauth_envelope env = { 0 };
	env.have_ip = client_ip(s, &env);
	env.helo = s->client.forwarded ? s->client.helo : s->lhlo_name;
	env.mail_from = s->txn.from.address;
	s->txn.auth = mailauth_msg_new(&cfg, &env, time(NULL), arc4random_uniform(100));
	(void)mailauth_msg_evaluate(s->txn.auth);
	lmtp_checks_kick(s);
}

static void continue_finish(struct lmtp_session *s);

static void dns_done(void *arg)
{
	struct lmtp_session *s = arg;
	s->txn.dns_req = NULL;
	if (s->txn.checks_waiting)
		continue_finish(s);
	else
		lmtp_checks_kick(s);
	conn_flush(&s->conn);
}

void lmtp_checks_kick(struct lmtp_session *s)
{
	struct lmtp_txn *t = &s->txn;
	if (t->auth == NULL || t->dns_req != NULL ||
	    !dns_cache_has_open_questions(mailauth_msg_dns(t->auth)))
		return;
	t->dns_req = dns_resolver_fill(lmtpd_of(s)->resolver, mailauth_msg_dns(t->auth), dns_done, s);
}

static void continue_finish(struct lmtp_session *s)
{
	struct lmtp_txn *t = &s->txn;
	if (mailauth_msg_evaluate(t->auth) == MAILAUTH_PENDING) {
		lmtp_checks_kick(s);
		if (t->dns_req != NULL)
			return; /* dns_done() comes back here */
		/* Pending without questions cannot happen after eom; treat it
		   as done rather than hang the client. */
	}
	t->checks_waiting = false;
	lmtp_data_checked(s);
}

void lmtp_checks_finish(struct lmtp_session *s)
{
	if (s->txn.auth == NULL) {
		lmtp_data_checked(s);
		return;
	}
	s->txn.checks_waiting = true;
	continue_finish(s);
}

void lmtp_checks_cancel(struct lmtp_session *s)
{
	if (s->txn.dns_req != NULL) {
		dns_request_cancel(s->txn.dns_req);
		s->txn.dns_req = NULL;
	}
	s->txn.checks_waiting = false;
	mailauth_msg_free(s->txn.auth);
	s->txn.auth = NULL;
}
