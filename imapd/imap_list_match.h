/*
 * LIST and LSUB pattern matching (RFC 3501 sections 6.3.8 and 6.3.9).
 *
 * Works on UTF-8 names as the store has them, hierarchy separator '/': the
 * caller decodes the client's reference and pattern from modified UTF-7
 * first (imap_mutf7_decode), and encodes the names it sends back.
 *
 * '*' matches any run of characters, '%' any run without '/'. "INBOX" is
 * case-insensitive as a whole first hierarchy level ("inbox", "Inbox/Sub"),
 * so a pattern's characters that meet those five letters of such a name
 * compare ignoring ASCII case; everything else compares byte for byte.
 *
 * Matching is a bit-parallel simulation of the pattern as an automaton: time
 * linear in the name's length times (pattern length / 64), whatever the
 * wildcards, never backtracking.
 */
#ifndef PETREL_IMAPD_IMAP_LIST_MATCH_H
#define PETREL_IMAPD_IMAP_LIST_MATCH_H

#include <stdbool.h>

/* Longest reference + pattern accepted, in bytes. */
#define IMAP_LIST_PATTERN_MAX 1000

struct imap_list_match;

/*
 * LIST "" "" is not a pattern: RFC 3501 6.3.8 makes an empty mailbox name
 * argument a request for the hierarchy delimiter and the root name of the
 * reference. Petrel has one namespace without a prefix, so the answer is
 * `* LIST (\Noselect) "/" ""` whatever the reference. The caller checks
 * this on the decoded pattern alone, before building a matcher. (LSUB has
 * no such rule: an empty pattern there is an ordinary one matching "".)
 */
static inline bool imap_list_pattern_empty(const char *pattern)
{
	return pattern[0] == '\0';
}

/*
 * Builds a matcher for a LIST/LSUB reference and pattern (UTF-8, NUL-free).
 * The reference is put in front of the pattern as given, with no separator
 * added ("Foo/" + "%" -> "Foo/%", "Foo" + "%" -> "Foo%"), except that a
 * pattern starting with '/' is absolute and the reference is ignored
 * (RFC 3501 6.3.8's example "~smith/Mail/" + "/usr/doc/foo"; Dovecot does the
 * same). No Petrel name starts with '/', so such a pattern matches nothing.
 * '~' has no meaning here: it is an ordinary character of names.
 *
 * Returns NULL when reference and pattern together are longer than
 * IMAP_LIST_PATTERN_MAX bytes; the caller answers BAD. Otherwise the matcher
 * owns copies of what it needs; free it with imap_list_match_free().
 */
struct imap_list_match *imap_list_match_new(const char *reference, const char *pattern);
/* Frees *m (NULL is fine) and sets it to NULL. */
void imap_list_match_free(struct imap_list_match **m);

enum imap_match_result {
	IMAP_MATCH_NO = 0,
	IMAP_MATCH_YES = 1,
	/* The name does not match, but some name below it ("name/...") could:
	   LSUB shows such a parent as \Noselect, and LIST with '%' shows a
	   parent whose children match. */
	IMAP_MATCH_CHILDREN = 2,
};

/* Matches one mailbox name (UTF-8, as the store spells it). A name that
   matches gets YES even when its children could match as well. */
enum imap_match_result imap_list_match(const struct imap_list_match *m, const char *name);

#endif
