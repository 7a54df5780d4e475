/* Fuzz target for config value parsing: each typed parser (numbers, sizes,
   durations, booleans, enums, listen addresses, networks) gets the input as
   a value string. No crash, no leak; accepted numbers respect their range. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct values {
	char *s;
	unsigned int u;
	uint64_t size, dur;
	bool b;
	int e;
	struct listen_list listen;
	struct cidr_list nets;
};

static const char *const choices[] = { "a", "bb", NULL };
static const struct config_option opts[] = {
	{ "s", "s", CONFIG_PATH, offsetof(struct values, s), "", 0, 0, NULL },
	{ "s", "u", CONFIG_UINT, offsetof(struct values, u), "5", 2, 1000, NULL },
	{ "s", "size", CONFIG_SIZE, offsetof(struct values, size), "1", 1, 1ULL << 40, NULL },
	{ "s", "dur", CONFIG_DURATION, offsetof(struct values, dur), "1", 0, 0, NULL },
	{ "s", "b", CONFIG_BOOL, offsetof(struct values, b), "no", 0, 0, NULL },
	{ "s", "e", CONFIG_ENUM, offsetof(struct values, e), "a", 0, 0, choices },
	{ "s", "listen", CONFIG_LISTEN, offsetof(struct values, listen), "", 0, 0, NULL },
	{ "s", "nets", CONFIG_NETWORKS, offsetof(struct values, nets), "", 0, 0, NULL },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *value = malloc(size + 1);
	if (value == NULL)
		abort();
	memcpy(value, data, size);
	value[size] = '\0';
	struct values v;
	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char *error = NULL;
		if (config_set(&opts[i], &v, value, "/base", &error) < 0) {
			if (error == NULL)
				abort();
			free(error);
		}
	}
	if (v.u != 0 && (v.u < 2 || v.u > 1000))
		abort();
	config_free(opts, sizeof(opts) / sizeof(opts[0]), &v);
	free(value);
	return 0;
}
