/*
 * The LIST matcher's rules written the obvious way, to check the real one
 * against (unit test and fuzz target): a table over (pattern position, name
 * position), quadratic and fine for test sizes only. Shares no code with
 * imapd/imap_list_match.c on purpose.
 */
#ifndef PETREL_TESTS_LIST_MATCH_ORACLE_H
#define PETREL_TESTS_LIST_MATCH_ORACLE_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "imapd/imap_list_match.h"

static bool oracle_same_char(char p, char t, bool fold_case)
{
	if (p == t)
		return true;
	if (!fold_case)
		return false;
	char lp = p >= 'A' && p <= 'Z' ? (char)(p + 32) : p;
	char lt = t >= 'A' && t <= 'Z' ? (char)(t + 32) : t;
	return lp == lt;
}

/* Whether pattern p matches text t. as_prefix: t is "name/" and the question
   is whether some non-empty continuation of t would match. */
static bool oracle_match_text(const char *p, const char *t, size_t fold_len, bool as_prefix)
{
	size_t m = strlen(p), n = strlen(t), cols = n + 1;
	bool *dp = calloc((m + 1) * cols, sizeof(bool)); /* dp[i][j]: p+i matches t+j */
	if (dp == NULL)
		abort();
	for (size_t i = m + 1; i-- > 0;) {
		for (size_t j = n + 1; j-- > 0;) {
			bool r;
			if (j == n && as_prefix)
				r = i < m; /* any pattern rest matches some non-empty string */
			else if (i == m)
				r = j == n;
			else if (p[i] == '*')
				r = dp[(i + 1) * cols + j] || (j < n && dp[i * cols + j + 1]);
			else if (p[i] == '%')
				r = dp[(i + 1) * cols + j] || (j < n && t[j] != '/' && dp[i * cols + j + 1]);
			else
				r = j < n && oracle_same_char(p[i], t[j], j < fold_len) &&
				    dp[(i + 1) * cols + j + 1];
			dp[i * cols + j] = r;
		}
	}
	bool result = dp[0];
	free(dp);
	return result;
}

static enum imap_match_result oracle_match(const char *reference, const char *pattern,
					   const char *name)
{
	size_t ref_len = pattern[0] == '/' ? 0 : strlen(reference);
	size_t pat_len = strlen(pattern), name_len = strlen(name);
	char *full = malloc(ref_len + pat_len + 1);
	char *prefix = malloc(name_len + 2);
	if (full == NULL || prefix == NULL)
		abort();
	memcpy(full, reference, ref_len);
	memcpy(full + ref_len, pattern, pat_len + 1);
	memcpy(prefix, name, name_len);
	memcpy(prefix + name_len, "/", 2);

	size_t fold_len = 0;
	if (name_len >= 5 && (name[5] == '\0' || name[5] == '/')) {
		fold_len = 5;
		for (size_t k = 0; k < 5; k++)
			if (!oracle_same_char("inbox"[k], name[k], true))
				fold_len = 0;
	}
	enum imap_match_result r = IMAP_MATCH_NO;
	if (oracle_match_text(full, name, fold_len, false))
		r = IMAP_MATCH_YES;
	else if (oracle_match_text(full, prefix, fold_len, true))
		r = IMAP_MATCH_CHILDREN;
	free(full);
	free(prefix);
	return r;
}

#endif
