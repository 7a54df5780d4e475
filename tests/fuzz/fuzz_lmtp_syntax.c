/*
 * Fuzz target for lmtpd's envelope syntax and DATA decoder. The first byte
 * picks the flags; the input is parsed as "MAIL FROM:" arguments (path and
 * parameters, xtext values decoded) and decoded as a DATA stream split in
 * two at a point chosen by the second byte, which must give the same
 * output as decoding it whole.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmtpd/dot_stream.h"
#include "lmtpd/smtp_address.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	bool allow_null = data[0] & 1, utf8 = data[0] & 2, stuffed = data[0] & 4;
	size_t split = data[1];
	data += 2;
	size -= 2;
	if (split > size)
		split = size;

	struct span args = span_make(data, size);
	struct smtp_path path;
	const char *error;
	if (smtp_path_parse(&args, allow_null, utf8, &path, &error) == 0) {
		if (strlen(path.address) > SMTP_MAX_PATH + 2)
			abort();
		struct span k, v;
		while (smtp_param_next(&args, &k, &v) > 0)
			free(smtp_xtext_decode(v));
		smtp_path_free(&path);
	}

	struct dot_stream whole, parts;
	struct buf out1 = BUF_INIT, out2 = BUF_INIT;
	dot_stream_init(&whole, stuffed);
	dot_stream_init(&parts, stuffed);
	size_t used1 = dot_stream_feed(&whole, data, size, &out1);
	size_t used2 = dot_stream_feed(&parts, data, split, &out2);
	if (!dot_stream_done(&parts))
		used2 += dot_stream_feed(&parts, data + split, size - split, &out2);
	if (used1 != used2 || out1.len != out2.len ||
	    (out1.len > 0 && memcmp(out1.data, out2.data, out1.len) != 0))
		abort();
	/* Output never holds a bare LF. */
	for (size_t i = 0; i < out1.len; i++)
		if (out1.data[i] == '\n' && (i == 0 || out1.data[i - 1] != '\r'))
			abort();
	buf_free(&out1);
	buf_free(&out2);
	return 0;
}
