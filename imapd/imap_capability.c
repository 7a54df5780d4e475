#include <stdlib.h>

#include "common/conn.h"
#include "imapd/imap_session.h"

/* RFC 3501 7.2.1. Only what this build really does is listed. */
void imap_capability(struct imap_session *s, struct buf *out)
{
	buf_append_str(out, "IMAP4rev1 SASL-IR LITERAL+ IDLE UIDPLUS CHILDREN SPECIAL-USE");
	if (s->state != IMAP_STATE_NOT_AUTHENTICATED)
		return;
	/* RFC 3501 6.2.1: no STARTTLS once TLS is up. */
	if (conn_tls_available(&s->conn) && !conn_is_secure(&s->conn))
		buf_append_str(out, " STARTTLS");
	bool secure = conn_is_secure(&s->conn);
	if (!auth_plaintext_allowed(secure))
		buf_append_str(out, " LOGINDISABLED");
	struct buf mechs = BUF_INIT;
	auth_mechanisms(secure, &mechs, "AUTH=", " ");
	if (mechs.len > 0) {
		buf_append_str(out, " ");
		buf_append(out, mechs.data, mechs.len);
	}
	buf_free(&mechs);
}
