/*
 * petrel-test-sasl-client: drive Cyrus SASL's client side over stdin/stdout
 * so the protocol tests authenticate with an implementation that is not
 * ours.  The Python test owns the IMAP/POP3 framing; this program only turns
 * base64 challenges into base64 responses.  The line protocol is described
 * in sasl_client.md next to this file.
 *
 * Exit status: 0 exchange complete, 1 SASL error, 2 usage error or EOF.
 */

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#define EXIT_DONE	0
#define EXIT_SASL	1
#define EXIT_USAGE	2

struct client_args {
	const char *mech;
	const char *username;
	sasl_secret_t *secret;
};

/*
 * Why the exchange failed when the library did not notice it itself.  Kept
 * apart from sasl_seterror() because sasl_errdetail() prefixes the text with
 * the connection's last library code, which would then read "successful
 * result" or describe an unrelated earlier failure.
 */
static const char *protocol_error;

static int fail_protocol(const char *why)
{
	protocol_error = why;
	return SASL_BADPROT;
}

static int log_cb(void *context, int level, const char *message)
{
	(void)context;

	/* stdout carries the protocol; diagnostics must stay on stderr. */
	if (level <= SASL_LOG_WARN)
		fprintf(stderr, "sasl: %s\n", message);
	return SASL_OK;
}

static int getsimple_cb(void *context, int id, const char **result,
			unsigned *len)
{
	struct client_args *args = context;

	switch (id) {
	case SASL_CB_AUTHNAME:
		*result = args->username;
		break;
	case SASL_CB_USER:
		/*
		 * An empty authorization identity means "act as the
		 * authentication identity".  Cyrus' PLAIN then sends an empty
		 * authzid field and SCRAM omits "a=" from the GS2 header,
		 * which is what real clients send and what the server has to
		 * accept without consulting any proxy policy.
		 */
		*result = "";
		break;
	default:
		return SASL_BADPARAM;
	}
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

static int getsecret_cb(sasl_conn_t *conn, void *context, int id,
			sasl_secret_t **psecret)
{
	struct client_args *args = context;

	(void)conn;
	if (id != SASL_CB_PASS || psecret == NULL)
		return SASL_BADPARAM;
	*psecret = args->secret;
	return SASL_OK;
}

static int getrealm_cb(void *context, int id, const char **availrealms,
		       const char **result)
{
	(void)context;

	if (id != SASL_CB_GETREALM || result == NULL)
		return SASL_BADPARAM;
	/* NULL lets the mechanism fall back to its own default realm. */
	*result = availrealms != NULL ? availrealms[0] : NULL;
	return SASL_OK;
}

/*
 * Owned by the caller, freed with free().  The password is copied into a
 * sasl_secret_t because the mechanism may keep the pointer until
 * sasl_dispose(), so it has to outlive every step.
 */
static sasl_secret_t *secret_create(const char *password)
{
	size_t len = strlen(password);
	sasl_secret_t *secret;

	/* @UNSAFE: header plus password plus NUL; argv strings are small. */
	secret = malloc(offsetof(sasl_secret_t, data) + len + 1);
	if (secret == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(EXIT_USAGE);
	}
	secret->len = len;
	memcpy(secret->data, password, len + 1);
	return secret;
}

static void secret_destroy(sasl_secret_t **secret)
{
	if (*secret == NULL)
		return;
	/* Scrub it: these are test passwords, but the habit is cheap. */
	memset((*secret)->data, 0, (*secret)->len);
	free(*secret);
	*secret = NULL;
}

/* Prints "ERR <detail>" on one line; the detail must not break framing. */
static void print_error(sasl_conn_t *conn, int result)
{
	const char *detail;

	if (protocol_error != NULL)
		detail = protocol_error;
	else if (conn != NULL)
		detail = sasl_errdetail(conn);
	else
		detail = sasl_errstring(result, NULL, NULL);

	fputs("ERR ", stdout);
	for (const char *p = detail; *p != '\0'; p++)
		putchar(*p == '\r' || *p == '\n' ? ' ' : *p);
	putchar('\n');
	fflush(stdout);
}

/*
 * Writes "<prefix> <base64>", or "<prefix> =" for present-but-empty data
 * (the RFC 4959 convention for an empty initial response).
 */
static int print_data(const char *prefix, const char *data, unsigned len)
{
	unsigned outmax, outlen;
	char *out;
	int ret;

	if (len == 0) {
		printf("%s =\n", prefix);
		fflush(stdout);
		return SASL_OK;
	}
	/* @UNSAFE: 4 output bytes per 3 input bytes, rounded up, plus NUL. */
	outmax = (len + 2) / 3 * 4 + 1;
	out = malloc(outmax);
	if (out == NULL)
		return fail_protocol("out of memory");
	ret = sasl_encode64(data, len, out, outmax, &outlen);
	if (ret == SASL_OK) {
		printf("%s %.*s\n", prefix, (int)outlen, out);
		fflush(stdout);
	} else {
		ret = fail_protocol("cannot encode client data as base64");
	}
	free(out);
	return ret;
}

/*
 * Decodes one line of server data into *out_r (caller frees).  Both "" and
 * "=" stand for empty data: the test may forward an IMAP "+ " with nothing
 * after it, or normalise it to "=".
 */
static int decode_line(const char *text, char **out_r, unsigned *len_r)
{
	size_t textlen = strlen(text);
	unsigned outlen;
	char *out;
	int ret;

	if (textlen == 0 || strcmp(text, "=") == 0) {
		*out_r = NULL;
		*len_r = 0;
		return SASL_OK;
	}
	if (textlen > 1024 * 1024)
		return fail_protocol("server data line too long");
	/* @UNSAFE: 3 bytes per 4 input characters, plus NUL, bounded above. */
	out = malloc(textlen / 4 * 3 + 4);
	if (out == NULL)
		return fail_protocol("out of memory");
	ret = sasl_decode64(text, (unsigned)textlen, out,
			    (unsigned)(textlen / 4 * 3 + 4), &outlen);
	if (ret != SASL_OK) {
		free(out);
		return fail_protocol("server data is not valid base64");
	}
	*out_r = out;
	*len_r = outlen;
	return SASL_OK;
}

/* Strips the line terminator; tolerates CRLF from a test that forwards raw. */
static void chomp(char *line, ssize_t *len)
{
	while (*len > 0 && (line[*len - 1] == '\n' || line[*len - 1] == '\r'))
		line[--*len] = '\0';
}

/*
 * Handles one line of server data.  `finished` says the mechanism already
 * returned SASL_OK: Cyrus refuses any further step then ("attempting client
 * step after doneflag"), so empty data is accepted silently and anything
 * else is a protocol error with a clearer message.  Returns SASL_OK when the
 * client is finished, SASL_CONTINUE when it expects more, or an error whose
 * detail print_error() knows how to find.  *out_r is owned by the library.
 */
static int step_line(sasl_conn_t *conn, int finished, const char *text,
		     const char **out_r, unsigned *outlen_r)
{
	char *serverin;
	unsigned serverinlen;
	int ret;

	*out_r = NULL;
	*outlen_r = 0;
	ret = decode_line(text, &serverin, &serverinlen);
	if (ret != SASL_OK)
		return ret;
	if (!finished) {
		ret = sasl_client_step(conn, serverin, serverinlen, NULL,
				       out_r, outlen_r);
	} else if (serverinlen > 0) {
		ret = fail_protocol("server sent data after the client "
				    "mechanism had finished");
	}
	free(serverin);
	return ret;
}

/*
 * Runs the exchange after sasl_client_start, whose result is `ret`.  Returns
 * the exit status.
 */
static int exchange(sasl_conn_t *conn, int ret)
{
	char *line = NULL;
	size_t linecap = 0;
	int status;

	for (;;) {
		const char *out = NULL;
		unsigned outlen = 0;
		ssize_t len;

		len = getline(&line, &linecap, stdin);
		if (len < 0) {
			status = EXIT_USAGE;
			break;
		}
		chomp(line, &len);
		if ((size_t)len != strlen(line)) {
			print_error(conn, fail_protocol("NUL byte in input"));
			status = EXIT_SASL;
			break;
		}

		if (strcmp(line, "OK") == 0 || strncmp(line, "OK ", 3) == 0) {
			/*
			 * Success data (SCRAM's v=...) rode on the tagged OK
			 * or +OK (RFC 4422 section 5, "additional data with
			 * success").  If the client had not finished, this
			 * step must finish it; SCRAM fails here when the
			 * server omitted or forged its proof, which is the
			 * mutual authentication the tests want to exercise.
			 */
			ret = step_line(conn, ret == SASL_OK,
					line[2] == ' ' ? line + 3 : "",
					&out, &outlen);
			/*
			 * Output here means the mechanism took the success
			 * data for a challenge it still had to answer (CRAM-MD5
			 * happily answers an empty one): the server declared
			 * success before hearing the client's last word.
			 */
			if (ret == SASL_CONTINUE ||
			    (ret == SASL_OK && outlen > 0))
				ret = fail_protocol("server reported success "
						    "before the mechanism "
						    "finished");
			if (ret == SASL_OK) {
				puts("DONE");
				fflush(stdout);
				status = EXIT_DONE;
			} else {
				print_error(conn, ret);
				status = EXIT_SASL;
			}
			break;
		}

		/*
		 * A challenge.  After a finished step (e.g. SCRAM's v=...
		 * sent as a continuation) the client still answers, with
		 * empty data, and the server's OK is still awaited.
		 */
		if (ret == SASL_OK) {
			ret = fail_protocol("server sent a challenge after "
					    "the client mechanism had "
					    "finished");
		} else {
			ret = step_line(conn, 0, line, &out, &outlen);
		}
		if (ret == SASL_OK || ret == SASL_CONTINUE) {
			if (print_data("R", out, outlen) != SASL_OK)
				ret = SASL_FAIL;
		}
		if (ret != SASL_OK && ret != SASL_CONTINUE) {
			print_error(conn, ret);
			status = EXIT_SASL;
			break;
		}
	}
	free(line);
	return status;
}

/*
 * Cyrus declares every callback as int (*)(void); going through
 * void (*)(void) keeps -Wcast-function-type quiet about the real signatures.
 */
#define SASL_PROC(fn)	((int (*)(void))(void (*)(void))(fn))

int main(int argc, char **argv)
{
	struct client_args args;
	sasl_security_properties_t secprops;
	sasl_conn_t *conn = NULL;
	const char *service, *hostname;
	const char *out = NULL;
	unsigned outlen = 0;
	int ret, status;

	if (argc < 4 || argc > 6) {
		fprintf(stderr, "usage: %s MECH USERNAME PASSWORD "
			"[SERVICE] [HOSTNAME]\n", argv[0]);
		return EXIT_USAGE;
	}
	args.mech = argv[1];
	args.username = argv[2];
	args.secret = secret_create(argv[3]);
	service = argc > 4 ? argv[4] : "imap";
	hostname = argc > 5 ? argv[5] : "localhost";

	/* The test reads our answer before it writes the next challenge. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	/*
	 * No GETPATH/GETCONFPATH: plugins come from the library's built-in
	 * directory (or $SASL_PATH), and the client side reads no
	 * configuration file, so nothing in /etc/sasl2 matters.
	 */
	const sasl_callback_t global_callbacks[] = {
		{ SASL_CB_LOG, SASL_PROC(log_cb), NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};
	const sasl_callback_t conn_callbacks[] = {
		{ SASL_CB_LOG, SASL_PROC(log_cb), NULL },
		{ SASL_CB_AUTHNAME, SASL_PROC(getsimple_cb), &args },
		{ SASL_CB_USER, SASL_PROC(getsimple_cb), &args },
		{ SASL_CB_PASS, SASL_PROC(getsecret_cb), &args },
		{ SASL_CB_GETREALM, SASL_PROC(getrealm_cb), NULL },
		{ SASL_CB_LIST_END, NULL, NULL },
	};

	ret = sasl_client_init(global_callbacks);
	if (ret != SASL_OK) {
		print_error(NULL, ret);
		secret_destroy(&args.secret);
		return EXIT_SASL;
	}
	ret = sasl_client_new(service, hostname, NULL, NULL, conn_callbacks,
			      0, &conn);
	if (ret != SASL_OK) {
		print_error(NULL, ret);
		status = EXIT_SASL;
		goto out;
	}

	/*
	 * Plaintext mechanisms must be selectable without TLS: whether that is
	 * acceptable is the server's decision, and the tests check it.  No
	 * security layer either, since neither front end negotiates one.
	 */
	memset(&secprops, 0, sizeof(secprops));
	ret = sasl_setprop(conn, SASL_SEC_PROPS, &secprops);
	if (ret != SASL_OK) {
		print_error(conn, ret);
		status = EXIT_SASL;
		goto out;
	}

	/* The mechlist is just MECH, so Cyrus cannot pick another one. */
	ret = sasl_client_start(conn, args.mech, NULL, &out, &outlen, NULL);
	if (ret != SASL_OK && ret != SASL_CONTINUE) {
		print_error(conn, ret);
		status = EXIT_SASL;
		goto out;
	}
	if (out != NULL) {
		if (print_data("IR", out, outlen) != SASL_OK) {
			print_error(conn, SASL_FAIL);
			status = EXIT_SASL;
			goto out;
		}
	} else {
		puts("NOIR");
		fflush(stdout);
	}
	status = exchange(conn, ret);
out:
	sasl_dispose(&conn);
	sasl_client_done();
	secret_destroy(&args.secret);
	return status;
}
