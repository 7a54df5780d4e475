#include "common/auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>

#include "common/log.h"
#include "common/xalloc.h"

/* Cyrus SASL's callback table stores plain function pointers. */
#define SASL_PROC(fn) ((int (*)(void))(void (*)(void))(fn))

static struct {
	bool initialised;
	char *mech_list;
	char *sasldb_path;
	bool allow_plaintext;
	char *offered_secure;	/* space-separated names, as Cyrus lists them */
	char *offered_insecure;
} g;

struct auth_session {
	sasl_conn_t *conn;
	bool secure;
	char *user;
	char detail[160];
};

static int getopt_cb(void *context, const char *plugin, const char *option, const char **result,
		     unsigned *len)
{
	const char *value = NULL;
	if (strcmp(option, "sasldb_path") == 0)
		value = g.sasldb_path;
	else if (strcmp(option, "auxprop_plugin") == 0)
		value = "sasldb";
	else if (strcmp(option, "pwcheck_method") == 0)
		value = "auxprop";
	else if (strcmp(option, "mech_list") == 0)
		value = g.mech_list;
	else if (strcmp(option, "log_level") == 0)
		/* Cyrus logs nothing through our callback unless asked. */
		value = log_enabled(LOG_LEVEL_DEBUG) ? "5" : "1";
	if (value == NULL)
		return SASL_FAIL; /* Cyrus's built-in default */
	*result = value;
	if (len != NULL)
		*len = (unsigned)strlen(value);
	return SASL_OK;
}

/* Points Cyrus at a "directory" that cannot hold a config file, so nothing
   under /etc/sasl2 or /usr/lib/sasl2 changes our behaviour. */
static int getconfpath_cb(void *context, char **path)
{
	/* Cyrus 2.1.28 never frees this (its own default is a constant). */
	static char nowhere[] = "/dev/null";
	*path = nowhere;
	return SASL_OK;
}

static int log_cb(void *context, int level, const char *message)
{
	char quoted[300];
	const char *text = log_quote(quoted, sizeof(quoted), span_cstr(message), 256);
	if (level <= SASL_LOG_ERR)
		log_warning(NULL, "sasl", "message=%s", text);
	else
		log_debug(NULL, "sasl", "message=%s", text);
	return SASL_OK;
}

/* User names are looked up in lower case, whatever the client typed. */
static int canon_user_cb(sasl_conn_t *conn, void *context, const char *in, unsigned inlen,
			 unsigned flags, const char *user_realm, char *out, unsigned out_max,
			 unsigned *out_len)
{
	if (inlen == 0 || inlen >= out_max || inlen > 255)
		return SASL_BADPROT;
	for (unsigned i = 0; i < inlen; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch < 0x21 || ch == 0x7f)
			return SASL_BADPROT;
		out[i] = (char)tolower(ch);
	}
	out[inlen] = '\0';
	*out_len = inlen;
	return SASL_OK;
}

static const sasl_callback_t global_callbacks[] = {
	{ SASL_CB_GETOPT, SASL_PROC(getopt_cb), NULL },
	{ SASL_CB_GETCONFPATH, SASL_PROC(getconfpath_cb), NULL },
	{ SASL_CB_LOG, SASL_PROC(log_cb), NULL },
	{ SASL_CB_CANON_USER, SASL_PROC(canon_user_cb), NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

bool auth_plaintext_allowed(bool secure)
{
	return secure || g.allow_plaintext;
}

static void apply_secprops(sasl_conn_t *conn, bool secure)
{
	sasl_security_properties_t props;
	memset(&props, 0, sizeof(props));
	/* No SASL security layers: TLS does that job. */
	props.max_ssf = 0;
	props.maxbufsize = 0;
	props.security_flags = SASL_SEC_NOANONYMOUS;
	if (!auth_plaintext_allowed(secure))
		props.security_flags |= SASL_SEC_NOPLAINTEXT;
	sasl_setprop(conn, SASL_SEC_PROPS, &props);
}

/* What a connection is offered depends only on whether plaintext is
   allowed on it, so it is asked of Cyrus once. */
static char *list_offered(bool secure)
{
	sasl_conn_t *conn = NULL;
	if (sasl_server_new("petrel", NULL, NULL, NULL, NULL, NULL, 0, &conn) != SASL_OK)
		return NULL;
	apply_secprops(conn, secure);
	const char *list = NULL;
	unsigned len = 0;
	int count = 0;
	char *result = NULL;
	if (sasl_listmech(conn, NULL, "", " ", "", &list, &len, &count) == SASL_OK)
		result = count > 0 ? xstrndup(list, len) : xstrdup("");
	sasl_dispose(&conn);
	return result;
}

void auth_mechanisms(bool secure, struct buf *out, const char *prefix, const char *sep)
{
	const char *list = auth_plaintext_allowed(secure) ? g.offered_secure : g.offered_insecure;
	if (list == NULL)
		return;
	char *copy = xstrdup(list);
	char *save = NULL;
	bool first = true;
	for (char *m = strtok_r(copy, " ", &save); m != NULL; m = strtok_r(NULL, " ", &save)) {
		buf_printf(out, "%s%s%s", first ? "" : sep, prefix, m);
		first = false;
	}
	free(copy);
}

int auth_init(const struct settings *set, const char *app, char **error_r)
{
	if (g.initialised)
		return 0;
	g.mech_list = xstrdup(set->auth.mechanisms);
	g.sasldb_path = xstrdup(set->auth.sasldb_path);
	g.allow_plaintext = set->auth.allow_plaintext_auth;
	int ret = sasl_server_init(global_callbacks, app);
	if (ret != SASL_OK) {
		*error_r = xasprintf("cannot initialise Cyrus SASL: %s",
				     sasl_errstring(ret, NULL, NULL));
		auth_deinit();
		return -1;
	}
	g.initialised = true;

	/* Every configured mechanism must have a plugin, or clients would be
	   offered less than the admin asked for without anyone noticing. */
	const char **available = sasl_global_listmech();
	char *wanted = xstrdup(g.mech_list);
	char *save = NULL;
	for (char *mech = strtok_r(wanted, " ,\t", &save); mech != NULL;
	     mech = strtok_r(NULL, " ,\t", &save)) {
		bool found = false;
		for (size_t i = 0; available != NULL && available[i] != NULL; i++)
			found |= strcasecmp(available[i], mech) == 0;
		if (!found) {
			*error_r = xasprintf("[auth] mechanisms: no Cyrus SASL plugin for %s "
					     "(install libsasl2-modules)", mech);
			free(wanted);
			auth_deinit();
			return -1;
		}
	}
	free(wanted);

	g.offered_secure = list_offered(true);
	g.offered_insecure = list_offered(false);
	if (g.offered_secure == NULL || g.offered_insecure == NULL) {
		*error_r = xstrdup("cannot list Cyrus SASL mechanisms");
		auth_deinit();
		return -1;
	}
	return 0;
}

void auth_deinit(void)
{
	if (g.initialised)
		sasl_server_done();
	free(g.mech_list);
	free(g.sasldb_path);
	free(g.offered_secure);
	free(g.offered_insecure);
	memset(&g, 0, sizeof(g));
}

struct auth_session *auth_session_create(const char *service, const char *hostname,
					 const char *local, const char *remote, bool secure,
					 char **error_r)
{
	struct auth_session *s = xcalloc(1, sizeof(*s));
	s->secure = secure;
	int ret = sasl_server_new(service, hostname, NULL, local[0] ? local : NULL,
				  remote[0] ? remote : NULL, NULL, 0, &s->conn);
	if (ret != SASL_OK) {
		*error_r = xasprintf("sasl_server_new: %s", sasl_errstring(ret, NULL, NULL));
		free(s);
		return NULL;
	}
	apply_secprops(s->conn, secure);
	return s;
}

void auth_session_destroy(struct auth_session **sp)
{
	struct auth_session *s = *sp;
	if (s == NULL)
		return;
	sasl_dispose(&s->conn);
	free(s->user);
	free(s);
	*sp = NULL;
}

static bool is_plaintext_mech(const char *mech)
{
	return strcasecmp(mech, "PLAIN") == 0 || strcasecmp(mech, "LOGIN") == 0;
}

static enum auth_result convert(struct auth_session *s, int ret, const char *out, unsigned outlen,
				struct span *challenge_r)
{
	switch (ret) {
	case SASL_OK: {
		const void *user = NULL;
		if (sasl_getprop(s->conn, SASL_USERNAME, &user) != SASL_OK || user == NULL) {
			snprintf(s->detail, sizeof(s->detail), "no user name after success");
			return AUTH_TEMPFAIL;
		}
		free(s->user);
		s->user = xstrdup(user);
		return AUTH_OK;
	}
	case SASL_CONTINUE:
		*challenge_r = span_make(out, outlen);
		return AUTH_CONTINUE;
	case SASL_NOMECH:
		snprintf(s->detail, sizeof(s->detail), "mechanism not available");
		return AUTH_BAD_MECH;
	case SASL_NOMEM:
	case SASL_FAIL:
	case SASL_UNAVAIL:
	case SASL_TRYAGAIN:
		snprintf(s->detail, sizeof(s->detail), "%s", sasl_errdetail(s->conn));
		return AUTH_TEMPFAIL;
	default:
		/* Wrong password, unknown user, disabled account or a malformed
		   message: all the client learns is that it failed. */
		snprintf(s->detail, sizeof(s->detail), "%s", sasl_errdetail(s->conn));
		return AUTH_FAILED;
	}
}

enum auth_result auth_start(struct auth_session *s, const char *mech, const struct span *initial,
			    struct span *challenge_r)
{
	s->detail[0] = '\0';
	if (is_plaintext_mech(mech) && !auth_plaintext_allowed(s->secure))
		return AUTH_PLAINTEXT_DISALLOWED;
	const char *out = NULL;
	unsigned outlen = 0;
	int ret = sasl_server_start(s->conn, mech, initial ? (const char *)initial->ptr : NULL,
				    initial ? (unsigned)initial->len : 0, &out, &outlen);
	return convert(s, ret, out, outlen, challenge_r);
}

enum auth_result auth_step(struct auth_session *s, struct span response, struct span *challenge_r)
{
	/* Cyrus leaves out/outlen untouched on some successful final steps;
	   stale values would be sent again. */
	const char *out = NULL;
	unsigned outlen = 0;
	int ret = sasl_server_step(s->conn, (const char *)response.ptr, (unsigned)response.len, &out,
				   &outlen);
	return convert(s, ret, out, outlen, challenge_r);
}

enum auth_result auth_check_password(struct auth_session *s, const char *user, struct span pass)
{
	s->detail[0] = '\0';
	if (!auth_plaintext_allowed(s->secure))
		return AUTH_PLAINTEXT_DISALLOWED;
	if (strlen(user) == 0 || pass.len == 0 || memchr(pass.ptr, '\0', pass.len) != NULL) {
		snprintf(s->detail, sizeof(s->detail), "empty user or password");
		return AUTH_FAILED;
	}
	/* Cyrus compares the password as a C string whatever length we pass,
	   so it must end right there; the copy is wiped afterwards. */
	char *copy = span_strdup(pass);
	int ret = sasl_checkpass(s->conn, user, (unsigned)strlen(user), copy, (unsigned)pass.len);
	OPENSSL_cleanse(copy, pass.len);
	free(copy);
	return convert(s, ret, NULL, 0, NULL);
}

const char *auth_user(const struct auth_session *s)
{
	return s->user;
}

const char *auth_error_detail(const struct auth_session *s)
{
	return s->detail;
}

static sasl_conn_t *admin_conn(char **error_r)
{
	sasl_conn_t *conn = NULL;
	int ret = sasl_server_new("petrel", NULL, NULL, NULL, NULL, NULL, 0, &conn);
	if (ret != SASL_OK) {
		*error_r = xasprintf("sasl_server_new: %s", sasl_errstring(ret, NULL, NULL));
		return NULL;
	}
	return conn;
}

int auth_set_password(const char *user, const char *password, bool create, char **error_r)
{
	sasl_conn_t *conn = admin_conn(error_r);
	if (conn == NULL)
		return -1;
	/* Cyrus may report success while errdetail still holds an old
	   message, so only the return value decides. */
	int ret = sasl_setpass(conn, user, password, (unsigned)strlen(password), NULL, 0,
			       create ? SASL_SET_CREATE : 0);
	if (ret != SASL_OK)
		*error_r = xasprintf("cannot store the password in %s: %s", g.sasldb_path,
				     sasl_errdetail(conn));
	sasl_dispose(&conn);
	return ret == SASL_OK ? 0 : -1;
}

int auth_delete_password(const char *user, char **error_r)
{
	sasl_conn_t *conn = admin_conn(error_r);
	if (conn == NULL)
		return -1;
	int ret = sasl_setpass(conn, user, NULL, 0, NULL, 0, SASL_SET_DISABLE);
	if (ret != SASL_OK)
		*error_r = xasprintf("cannot remove the password from %s: %s", g.sasldb_path,
				     sasl_errdetail(conn));
	sasl_dispose(&conn);
	return ret == SASL_OK ? 0 : -1;
}
