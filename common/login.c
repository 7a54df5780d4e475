#include "common/login.h"

#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/server.h"

struct auth_session *login_auth_session(struct conn *c, struct auth_session **slot,
					const char *service)
{
	if (*slot != NULL)
		return *slot;
	char local[80], remote[80];
	conn_sasl_addrs(c, local, sizeof(local), remote, sizeof(remote));
	char *error = NULL;
	struct auth_session *auth = auth_session_create(service, c->srv->set.server.hostname, local,
							remote, conn_is_secure(c), &error);
	if (auth == NULL) {
		log_error(&c->log, "auth_unavailable", "error=\"%s\"", error);
		free(error);
	}
	*slot = auth;
	return auth;
}

int login_success(struct conn *c, const char *user, const char *mech)
{
	char quoted[300];
	if (conn_set_user(c, user) < 0) {
		log_info(&c->log, "login_refused", "user=%s reason=\"too many connections\"",
			 log_quote(quoted, sizeof(quoted), span_cstr(user), 256));
		return -1;
	}
	auth_penalty_success(&c->srv->penalty, &c->ip_key, sizeof(c->ip_key));
	char tls[128];
	const char *tls_desc = conn_tls_description(c, tls, sizeof(tls));
	log_info(&c->log, "login", "mech=%s%s%s", mech, tls_desc ? " " : "", tls_desc ? tls_desc : "");
	return 0;
}

uint64_t login_failure(struct conn *c, const char *mech, const char *attempted_user,
		       const char *detail)
{
	char quoted_user[300], quoted_detail[200];
	uint64_t delay = auth_penalty_failure(&c->srv->penalty, &c->ip_key, sizeof(c->ip_key),
					      uv_now(c->srv->loop));
	log_info(&c->log, "auth_failed", "mech=%s user=%s detail=%s delay_ms=%llu", mech,
		 log_quote(quoted_user, sizeof(quoted_user),
			   span_cstr(attempted_user ? attempted_user : ""), 256),
		 log_quote(quoted_detail, sizeof(quoted_detail), span_cstr(detail ? detail : ""),
			   150),
		 (unsigned long long)delay);
	return delay;
}

static enum sasl_exchange_result handle(struct conn *c, enum auth_result r, struct span challenge)
{
	switch (r) {
	case AUTH_CONTINUE: {
		struct buf line = BUF_INIT;
		buf_append_str(&line, "+ ");
		base64_encode(&line, challenge);
		buf_append_str(&line, "\r\n");
		conn_write(c, line.data, line.len);
		buf_free(&line);
		return SASL_EXCHANGE_CONTINUE;
	}
	case AUTH_OK:
		return SASL_EXCHANGE_OK;
	case AUTH_FAILED:
		return SASL_EXCHANGE_FAILED;
	case AUTH_BAD_MECH:
		return SASL_EXCHANGE_BAD_MECH;
	case AUTH_PLAINTEXT_DISALLOWED:
		return SASL_EXCHANGE_PLAINTEXT_DISALLOWED;
	case AUTH_TEMPFAIL:
		break;
	}
	return SASL_EXCHANGE_TEMPFAIL;
}

enum sasl_exchange_result sasl_exchange_start(struct conn *c, struct auth_session *auth,
					      const char *mech, const struct span *initial)
{
	struct span challenge = { NULL, 0 };
	if (initial == NULL)
		return handle(c, auth_start(auth, mech, NULL, &challenge), challenge);
	/* RFC 4959: "=" stands for an empty initial response. */
	struct buf decoded = BUF_INIT;
	if (!span_eq(*initial, "=") && base64_decode(&decoded, *initial) < 0) {
		buf_free(&decoded);
		return SASL_EXCHANGE_BAD_BASE64;
	}
	struct span ir = span_make(decoded.data ? decoded.data : (const uint8_t *)"", decoded.len);
	enum sasl_exchange_result r = handle(c, auth_start(auth, mech, &ir, &challenge), challenge);
	buf_free(&decoded);
	return r;
}

enum sasl_exchange_result sasl_exchange_continue(struct conn *c, struct auth_session *auth,
						 struct span line)
{
	if (span_eq(line, "*"))
		return SASL_EXCHANGE_CANCELLED;
	struct buf decoded = BUF_INIT;
	if (base64_decode(&decoded, line) < 0) {
		buf_free(&decoded);
		return SASL_EXCHANGE_BAD_BASE64;
	}
	struct span challenge = { NULL, 0 };
	struct span response = span_make(decoded.data ? decoded.data : (const uint8_t *)"",
					 decoded.len);
	enum sasl_exchange_result r = handle(c, auth_step(auth, response, &challenge), challenge);
	buf_free(&decoded);
	return r;
}
