/*
 * A small table-driven INI reader on top of libinih.
 *
 * Each program describes its options as a table of struct config_option
 * (section, key, type, where the value lives, default). config_load() first
 * applies every default through the same parser a file value goes through,
 * then reads the file. Unknown sections and keys are errors, so a typo never
 * silently leaves a default in force. Errors name file, line and option:
 *
 *   /etc/petrel/petrel.conf:12: [limits] max_connections: 'ten' is not a number
 *
 * Values are typed: numbers with ranges, sizes with k/M/G suffixes, durations
 * with ms/s/m/h/d suffixes, booleans, enums, paths (relative ones are taken
 * relative to the file's directory), listen addresses and network lists.
 */
#ifndef PETREL_COMMON_CONFIG_H
#define PETREL_COMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/netaddr.h"

enum config_type {
	CONFIG_STRING,	 /* char *, malloc'd */
	CONFIG_PATH,	 /* char *, malloc'd, made absolute against the file's directory */
	CONFIG_BOOL,	 /* bool: yes/no, true/false, on/off, 1/0 */
	CONFIG_UINT,	 /* unsigned int within [min, max] */
	CONFIG_SIZE,	 /* uint64_t bytes: 100, 64k, 10M, 1G (powers of 1024) */
	CONFIG_DURATION, /* uint64_t milliseconds: 500ms, 30s, 5m, 2h, 1d; bare number = seconds */
	CONFIG_ENUM,	 /* int: index into choices */
	CONFIG_LISTEN,	 /* struct listen_list: comma-separated listen addresses */
	CONFIG_NETWORKS, /* struct cidr_list: comma/space-separated networks */
};

struct listen_list {
	struct listen_addr *items;
	size_t count;
};

struct config_option {
	const char *section;
	const char *key;
	enum config_type type;
	size_t offset;		    /* of the value inside the settings struct */
	const char *def;	    /* default, as it would be written in the file */
	uint64_t min, max;	    /* UINT, SIZE, DURATION; max 0 = no upper bound */
	const char *const *choices; /* ENUM: NULL-terminated */
};

/*
 * Applies defaults, then reads `path` (NULL: defaults only). Returns 0, or -1
 * with *error_r set to a malloc'd message (caller frees). On error the
 * settings may be partly filled; call config_free() either way.
 */
int config_load(const struct config_option *opts, size_t count, void *settings,
		const char *path, char **error_r);

/* Frees every malloc'd value the table describes and zeroes them. */
void config_free(const struct config_option *opts, size_t count, void *settings);

/* Parses one value into its place. `base_dir` resolves relative paths (may be
   NULL). Returns 0 or -1 with *error_r (malloc'd). Used by config_load and by
   tests/tools that override single options. */
int config_set(const struct config_option *opt, void *settings, const char *value,
	       const char *base_dir, char **error_r);

/* Finds an option by section and key; NULL if none. */
const struct config_option *config_find(const struct config_option *opts, size_t count,
					const char *section, const char *key);

/* Value parsers, exposed for the CLI and tests. Return 0 or -1. */
int config_parse_size(const char *s, uint64_t *bytes_r);
int config_parse_duration(const char *s, uint64_t *msecs_r);
int config_parse_bool(const char *s, bool *value_r);

#endif
