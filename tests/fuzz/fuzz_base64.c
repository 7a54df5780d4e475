/* Fuzz target for base64: decoding never crashes, and whatever decodes
   re-encodes to exactly the input (the decoder is strict). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf decoded = BUF_INIT, encoded = BUF_INIT;
	if (base64_decode(&decoded, span_make(data, size)) == 0) {
		base64_encode(&encoded, buf_span(&decoded));
		if (encoded.len != size || (size > 0 && memcmp(encoded.data, data, size) != 0))
			abort();
	}
	buf_free(&decoded);
	buf_free(&encoded);
	return 0;
}
