/*
 * Fuzz target for mailbox names on the wire and LIST patterns.
 *
 * The whole input is decoded as modified UTF-7: whatever decodes must be
 * valid UTF-8 and re-encode to exactly the input (the decoder accepts only
 * the canonical form). Then the first half is a LIST pattern (a '\t' in it
 * splits off a reference in front) and the second half a mailbox name; the
 * matcher must agree with the quadratic oracle the unit tests use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/utf8.h"
#include "imapd/imap_list_match.h"
#include "imapd/imap_mutf7.h"
#include "tests/unit/imapd/list_match_oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_codec(const uint8_t *data, size_t size)
{
	struct buf utf8 = BUF_INIT, wire = BUF_INIT;
	if (imap_mutf7_decode(span_make(data, size), &utf8) == 0) {
		if (!utf8_valid(utf8.data, utf8.len) || memchr(buf_cstr(&utf8), '\0', utf8.len))
			abort();
		if (imap_mutf7_encode(buf_span(&utf8), &wire) < 0)
			abort();
		if (wire.len != size || (size > 0 && memcmp(wire.data, data, size) != 0))
			abort();
	} else if (utf8.len != 0) {
		abort(); /* a failed decode leaves the buffer as it was */
	}
	buf_free(&utf8);
	buf_free(&wire);
}

/* The oracle is quadratic (and instrumented, like all code here): check
   up to about a 100-byte pattern against a 150-byte name, enough to cross
   the matcher's 64-state words. */
#define ORACLE_MAX_CELLS (1u << 14)

static void check_matcher(const uint8_t *data, size_t size)
{
	/* C strings, as the matcher takes them: each half ends at its first NUL. */
	char *pattern = span_strdup(span_make(data, size / 2));
	char *name = span_strdup(span_make(data + size / 2, size - size / 2));
	const char *reference = "";
	char *tab = strchr(pattern, '\t');
	if (tab != NULL) {
		*tab = '\0';
		reference = pattern;
	}
	const char *pat = tab != NULL ? tab + 1 : pattern;
	size_t full_len = (pat[0] == '/' ? 0 : strlen(reference)) + strlen(pat);
	struct imap_list_match *m = imap_list_match_new(reference, pat);
	if ((m == NULL) != (full_len > IMAP_LIST_PATTERN_MAX))
		abort(); /* the limit, exactly */
	if (m != NULL) {
		enum imap_match_result got = imap_list_match(m, name);
		if ((full_len + 1) * (strlen(name) + 2) <= ORACLE_MAX_CELLS &&
		    got != oracle_match(reference, pat, name))
			abort();
		imap_list_match_free(&m);
	}
	free(pattern);
	free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_codec(data, size);
	check_matcher(data, size);
	return 0;
}
