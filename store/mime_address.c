/*
 * RFC 5322 3.4 address lists, parsed the way IMAP ENVELOPE shows them.
 *
 * The grammar is the easy part; what matters is what broken lists become,
 * because clients display it. We follow Dovecot 2.3 entry for entry:
 * a missing local part or domain is filled in with MISSING_MAILBOX /
 * MISSING_DOMAIN, an unparsable angle address gets SYNTAX_ERROR, a broken
 * route INVALID_ROUTE, a bare word becomes a display name, a comment after
 * an addr-spec becomes the display name, dots are taken as they come in
 * local parts (RFC 5322 4.4 obs-local-part), and parsing stops at the first
 * byte that cannot continue the list.
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/mime_internal.h"

struct addr_parser {
	struct arena *arena;
	struct rfc822_scan s;
	struct buf comment, str;
	struct mime_address cur;
	bool invalid;
	struct mime_address_list *list;
};

static char *dup_str(struct addr_parser *ap)
{
	return arena_memdup(ap->arena, ap->str.len > 0 ? (const void *)ap->str.data : "",
			    ap->str.len);
}

static void add_address(struct addr_parser *ap)
{
	struct mime_address *a = arena_alloc(ap->arena, sizeof(*a));
	*a = ap->cur;
	a->next = NULL;
	if (ap->list->tail != NULL)
		ap->list->tail->next = a;
	else
		ap->list->head = a;
	ap->list->tail = a;
	ap->cur = (struct mime_address){ 0 };
	ap->invalid = false;
}

/* Clients want four strings for a mailbox; fill what is missing. */
static void add_fixed_address(struct addr_parser *ap)
{
	if (ap->cur.mailbox == NULL)
		ap->cur.mailbox = "MISSING_MAILBOX";
	if (ap->cur.domain == NULL || ap->cur.domain[0] == '\0')
		ap->cur.domain = "MISSING_DOMAIN";
	add_address(ap);
}

/* A local part with dots anywhere ("a..b", ".a", "a."), as old mailers
   wrote (RFC 5322 4.4). */
static int parse_lenient_dot_atom(struct addr_parser *ap)
{
	struct rfc822_scan *s = &ap->s;
	int ret = -1;

	do {
		while (*s->p == '.') {
			buf_append_byte(&ap->str, '.');
			if (++s->p == s->end)
				return 0;
			ret = 1;
		}
		if (*s->p == '@')
			break;
		ret = rfc822_parse_atom(s, &ap->str);
	} while (ret > 0 && *s->p == '.');
	return ret;
}

static int parse_local_part(struct addr_parser *ap)
{
	int ret;

	buf_clear(&ap->str);
	if (*ap->s.p == '"')
		ret = rfc822_parse_quoted_string(&ap->s, &ap->str);
	else
		ret = parse_lenient_dot_atom(ap);
	if (ret < 0)
		return -1;
	ap->cur.mailbox = dup_str(ap);
	return ret;
}

static int parse_domain(struct addr_parser *ap)
{
	buf_clear(&ap->str);
	int ret = rfc822_parse_domain(&ap->s, &ap->str);
	if (ret < 0)
		return -1;
	ap->cur.domain = dup_str(ap);
	return ret;
}

/* obs-route: "@a,@b:" before the local part (RFC 5322 4.4). */
static int parse_route(struct addr_parser *ap)
{
	struct rfc822_scan *s = &ap->s;
	int ret;

	buf_clear(&ap->str);
	for (;;) {
		if (s->p >= s->end)
			return 0;
		if (*s->p != '@')
			break;
		if (ap->str.len > 0)
			buf_append_byte(&ap->str, ',');
		buf_append_byte(&ap->str, '@');
		if ((ret = rfc822_parse_domain(s, &ap->str)) <= 0)
			return ret;
		while (rfc822_skip_lwsp(s) > 0 && *s->p == ',')
			s->p++;
	}
	ap->cur.route = dup_str(ap);
	return 1;
}

static int parse_angle_addr(struct addr_parser *ap)
{
	struct rfc822_scan *s = &ap->s;

	s->p++; /* '<' */
	if (rfc822_skip_lwsp(s) <= 0)
		return -1;
	if (*s->p == '@') {
		if (parse_route(ap) > 0 && *s->p == ':') {
			s->p++;
		} else {
			ap->cur.route = "INVALID_ROUTE";
			if (s->p >= s->end)
				return -1;
		}
		if (rfc822_skip_lwsp(s) <= 0)
			return -1;
	}
	if (*s->p != '>') { /* "<>" has neither part */
		if (parse_local_part(ap) <= 0)
			return -1;
		if (*s->p == '@' && parse_domain(ap) <= 0)
			return -1;
	}
	if (*s->p != '>')
		return -1;
	s->p++;
	return rfc822_skip_lwsp(s);
}

/* name-addr = [display-name] angle-addr */
static int parse_name_addr(struct addr_parser *ap)
{
	buf_clear(&ap->str);
	if (rfc822_parse_phrase(&ap->s, &ap->str) <= 0 || *ap->s.p != '<')
		return -1;
	ap->cur.name = ap->str.len > 0 ? dup_str(ap) : NULL;
	if (parse_angle_addr(ap) < 0) {
		ap->cur.domain = "SYNTAX_ERROR";
		ap->invalid = true;
	}
	return ap->s.p < ap->s.end ? 1 : 0;
}

/* addr-spec, plus what people write instead: "user", "Some Name",
   "user (Real Name)". */
static int parse_addr_spec(struct addr_parser *ap)
{
	struct rfc822_scan *s = &ap->s;
	int ret, ret_domain = -2;

	buf_clear(&ap->comment);
	bool quoted = *s->p == '"';
	ret = parse_local_part(ap);
	if (ret <= 0)
		ap->invalid = true;
	if (ret != 0 && s->p < s->end && *s->p == '@') {
		ret_domain = parse_domain(ap);
		if (ret_domain <= 0)
			ret = ret_domain;
	}

	if (ap->comment.len > 0) {
		ap->cur.name = arena_memdup(ap->arena, ap->comment.data, ap->comment.len);
	} else if (ret_domain == -2) {
		/* No @domain: one word is a local part, more words are a
		   display name without an address. */
		buf_append_byte(&ap->str, ' ');
		size_t before = ap->str.len;
		(void)rfc822_parse_phrase(s, &ap->str);
		if (ap->str.len != before) {
			ap->cur.mailbox = NULL;
			ap->cur.name = dup_str(ap);
		} else if (!quoted) {
			ap->cur.domain = "";
		}
		ap->invalid = true;
		ret = -1;
	}
	return ret;
}

static int parse_mailbox(struct addr_parser *ap)
{
	const uint8_t *start = ap->s.p;
	int ret;

	if ((ret = parse_name_addr(ap)) < 0) {
		ap->s.p = start;
		ret = parse_addr_spec(ap);
		/* a lone quoted word is a name, not a mailbox */
		if (ap->invalid && ap->cur.name == NULL && ap->cur.mailbox != NULL &&
		    ap->cur.domain == NULL) {
			ap->cur.name = ap->cur.mailbox;
			ap->cur.mailbox = NULL;
		}
	}
	if (ret < 0)
		ap->invalid = true;
	add_fixed_address(ap);
	return ret;
}

/* group = display-name ":" [group-list] ";" [CFWS] */
static int parse_group(struct addr_parser *ap)
{
	struct rfc822_scan *s = &ap->s;
	int ret;

	buf_clear(&ap->str);
	if (rfc822_parse_phrase(s, &ap->str) <= 0 || *s->p != ':')
		return -1;
	/* From here on it is a group, however broken. */
	s->p++;
	ret = rfc822_skip_lwsp(s);
	ap->cur.mailbox = dup_str(ap);
	add_address(ap);

	if (ret > 0 && *s->p != ';') {
		for (;;) {
			(void)parse_mailbox(ap);
			if (s->p >= s->end || *s->p != ',')
				break;
			s->p++;
			if (rfc822_skip_lwsp(s) <= 0) {
				ret = -1;
				break;
			}
		}
	}
	if (ret >= 0) {
		if (s->p >= s->end || *s->p != ';') {
			ret = -1;
		} else {
			s->p++;
			ret = rfc822_skip_lwsp(s);
		}
	}
	add_address(ap); /* the end-of-group marker */
	return ret == 0 ? 0 : 1;
}

static int parse_address(struct addr_parser *ap)
{
	const uint8_t *start = ap->s.p;
	int ret = parse_group(ap);
	if (ret < 0) {
		ap->s.p = start;
		ret = parse_mailbox(ap);
	}
	return ret;
}

void mime_address_parse(struct arena *a, const uint8_t *value, size_t len,
			struct mime_address_list *list)
{
	struct addr_parser ap = { .arena = a, .list = list };
	int ret;

	rfc822_scan_init(&ap.s, value, len);
	ap.s.comment = &ap.comment;
	ap.s.nul_to_fffd = true;
	if (rfc822_skip_lwsp(&ap.s) > 0) {
		for (;;) {
			if (parse_address(&ap) == 0)
				break;
			if (ap.s.p >= ap.s.end || *ap.s.p != ',')
				break;
			ap.s.p++;
			if ((ret = rfc822_skip_lwsp(&ap.s)) <= 0) {
				if (ret < 0) /* an unterminated comment at the end */
					add_fixed_address(&ap);
				break;
			}
		}
	}
	buf_free(&ap.comment);
	buf_free(&ap.str);
}

/* ------------------------------------------------------------------ */
/* SEARCH and SORT views                                               */

static bool is_placeholder(const char *s)
{
	return s == NULL || s[0] == '\0' || strcmp(s, "MISSING_MAILBOX") == 0 ||
	       strcmp(s, "MISSING_DOMAIN") == 0 || strcmp(s, "SYNTAX_ERROR") == 0;
}

static void render_mailbox(struct buf *out, const struct mime_address *a)
{
	bool has_addr = !is_placeholder(a->mailbox) || !is_placeholder(a->domain);

	if (a->name != NULL && a->name[0] != '\0') {
		char *name = mime_decode_header(a->name, strlen(a->name));
		buf_append_str(out, name);
		free(name);
		if (has_addr)
			buf_append_byte(out, ' ');
	}
	if (!has_addr)
		return;
	buf_append_byte(out, '<');
	if (!is_placeholder(a->mailbox))
		buf_append_str(out, a->mailbox);
	if (!is_placeholder(a->domain)) {
		buf_append_byte(out, '@');
		buf_append_str(out, a->domain);
	}
	buf_append_byte(out, '>');
}

char *mime_address_render(const struct mime_address *list)
{
	struct buf out = BUF_INIT;
	bool need_separator = false;

	for (const struct mime_address *a = list; a != NULL; a = a->next) {
		if (a->domain == NULL && a->mailbox == NULL) {
			buf_append_byte(&out, ';'); /* end of a group */
			need_separator = true;
			continue;
		}
		if (need_separator)
			buf_append_str(&out, ", ");
		if (a->domain == NULL) {
			/* start of a group: "Name: member, member;" */
			char *name = mime_decode_header(a->mailbox, strlen(a->mailbox));
			buf_append_str(&out, name);
			buf_append_str(&out, ": ");
			free(name);
			need_separator = false;
			continue;
		}
		render_mailbox(&out, a);
		need_separator = true;
	}
	if (out.len == 0) {
		buf_free(&out);
		return NULL;
	}
	char *s = xstrndup(buf_cstr(&out), out.len);
	buf_free(&out);
	return s;
}

char *mime_address_sort_key(const struct mime_address *list)
{
	for (const struct mime_address *a = list; a != NULL; a = a->next) {
		if (a->domain == NULL)
			continue; /* group markers */
		if (is_placeholder(a->mailbox))
			return NULL;
		return xstrdup(a->mailbox);
	}
	return NULL;
}
