/*
 * CAPA (RFC 2449 5): what this server does, for the session's state.
 * USER, SASL and STLS only before login; EXPIRE and LOGIN-DELAY only when
 * petrel.conf sets them ([pop3] expire, login_delay), in both states
 * (RFC 2449 6.5, 6.7: a client may look before logging in).
 */
#include "common/buf.h"
#include "common/settings.h"
#include "pop3d/pop3_session.h"

void pop3_cmd_capa(struct pop3_session *s, struct span args)
{
	const struct pop3_policy *policy = &pop3d_of(s)->policy;
	struct buf out = BUF_INIT;
	buf_append_str(&out, "+OK Capability list follows\r\nTOP\r\nUIDL\r\n");
	if (s->state == POP3_STATE_AUTHORIZATION) {
		bool secure = conn_is_secure(&s->conn);
		if (auth_plaintext_allowed(secure))
			buf_append_str(&out, "USER\r\n");
		struct buf mechs = BUF_INIT;
		auth_mechanisms(secure, &mechs, "", " ");
		if (mechs.len > 0)
			buf_printf(&out, "SASL %s\r\n", buf_cstr(&mechs));
		buf_free(&mechs);
		if (conn_tls_available(&s->conn) && !secure)
			buf_append_str(&out, "STLS\r\n");
	}
	buf_append_str(&out, "RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
	if (policy->expire_days == SETTINGS_EXPIRE_NEVER)
		buf_append_str(&out, "EXPIRE NEVER\r\n");
	else if (policy->expire_days >= 0)
		buf_printf(&out, "EXPIRE %d\r\n", policy->expire_days);
	if (policy->login_delay_ms > 0)
		buf_printf(&out, "LOGIN-DELAY %llu\r\n",
			   (unsigned long long)(policy->login_delay_ms + 999) / 1000);
	buf_append_str(&out, "IMPLEMENTATION Petrel\r\n.\r\n");
	conn_write(&s->conn, out.data, out.len);
	buf_free(&out);
}
