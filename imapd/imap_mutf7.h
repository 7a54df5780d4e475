/*
 * Mailbox names on the wire: modified UTF-7 (RFC 3501 section 5.1.3).
 *
 * The store names mailboxes in UTF-8; IMAP4rev1 clients send and expect
 * modified UTF-7. Printable ASCII (0x20-0x7e) stands for itself, except '&',
 * which is written "&-". Everything else is UTF-16, base64-encoded with ','
 * instead of '/', between '&' and '-'.
 *
 * Both directions append to `out` and leave it as it was when they fail.
 * The decoder accepts only what the encoder produces (the canonical form),
 * so decode(x) succeeding means encode(decode(x)) == x byte for byte, and
 * two spellings can never name the same mailbox.
 */
#ifndef PETREL_IMAPD_IMAP_MUTF7_H
#define PETREL_IMAPD_IMAP_MUTF7_H

#include "common/buf.h"

/*
 * UTF-8 -> modified UTF-7. Returns 0, or -1 if utf8 is not valid UTF-8, holds
 * a NUL (no mailbox name can, and the decoder refuses an encoded NUL), or
 * out->max would be exceeded. decode(encode(x)) == x for every other x.
 */
int imap_mutf7_encode(struct span utf8, struct buf *out);

/*
 * Modified UTF-7 -> UTF-8, strict. Returns 0, or -1 for anything RFC 3501
 * 5.1.3 does not allow or that is not the canonical spelling:
 *  - bytes outside printable ASCII (8-bit bytes, control characters);
 *  - "&..." without its closing '-', or with a character outside the
 *    modified base64 alphabet (A-Z a-z 0-9 + ,) inside;
 *  - a base64 run with a character too many or non-zero bits after its last
 *    UTF-16 unit;
 *  - an encoded printable ASCII character (including '&', which must be
 *    "&-"), or an encoded NUL;
 *  - two encoded runs back to back ("&AOk-&AOk-" must be "&AOkA6Q-");
 *  - a UTF-16 surrogate without its partner in the same run;
 *  - output past out->max.
 * The output is always valid UTF-8 without NUL bytes.
 */
int imap_mutf7_decode(struct span mutf7, struct buf *out);

#endif
