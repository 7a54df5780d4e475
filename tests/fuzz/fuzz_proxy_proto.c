/*
 * Fuzz target for common/proxy_proto.
 *
 * Beyond "does not crash", it checks the promises of proxy_parse() that a
 * caller relies on:
 *  - the result never exceeds the input or PROXY_MAX_HEADER, and once
 *    PROXY_MAX_HEADER bytes are there the answer is never "need more";
 *  - one byte less never flips the answer in an impossible way: a refused
 *    prefix stays refused, a header found stays found at the same length,
 *    and "need more" or success never follows a refusal;
 *  - success gives addresses of the family and size it claims.
 * The input is parsed from a heap copy of exactly its size, so ASan sees
 * any read past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "common/proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int parse_copy(const uint8_t *data, size_t size, struct proxy_info *info_r)
{
	const char *error = NULL;
	uint8_t *copy = size > 0 ? malloc(size) : NULL;

	if (size > 0 && copy == NULL)
		abort();
	if (size > 0)
		memcpy(copy, data, size);
	int ret = proxy_parse(copy, size, info_r, &error);
	free(copy);
	if (ret < 0 && (ret != -1 || error == NULL || *error == '\0'))
		abort();
	return ret;
}

static void check_addr(const struct sockaddr_storage *ss, socklen_t len)
{
	if (ss->ss_family == AF_INET && len == sizeof(struct sockaddr_in))
		return;
	if (ss->ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6))
		return;
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_info info, shorter_info;

	int ret = parse_copy(data, size, &info);
	if (ret > 0 && ((size_t)ret > size || ret > PROXY_MAX_HEADER))
		abort();
	if (ret == 0 && size >= PROXY_MAX_HEADER)
		abort();
	if (ret > 0 && !info.local) {
		check_addr(&info.src, info.src_len);
		check_addr(&info.dst, info.dst_len);
		if (info.src.ss_family != info.dst.ss_family)
			abort();
	}
	if (ret > 0 && info.local && (info.src_len != 0 || info.dst_len != 0))
		abort();

	if (size == 0)
		return 0;
	int shorter = parse_copy(data, size - 1, &shorter_info);
	if (shorter < 0 && ret >= 0)
		abort();
	if (shorter > 0 && ret != shorter)
		abort();
	if (ret > 0 && (size_t)ret < size && shorter != ret)
		abort();
	if (ret > 0 && (size_t)ret == size && shorter != 0)
		abort();
	return 0;
}
