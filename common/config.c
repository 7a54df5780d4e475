#include "common/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"

static inline void *field(void *settings, const struct config_option *opt)
{
	return (char *)settings + opt->offset;
}

const struct config_option *config_find(const struct config_option *opts, size_t count,
					const char *section, const char *key)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(opts[i].section, section) == 0 && strcmp(opts[i].key, key) == 0)
			return &opts[i];
	return NULL;
}

/* Parses a decimal number followed by an optional unit from `units`.
   Returns 0, or -1 on syntax error or overflow. */
struct unit {
	const char *name;
	uint64_t mul;
};

static int parse_with_unit(const char *s, const struct unit *units, size_t nunits,
			   uint64_t default_mul, uint64_t *value_r)
{
	uint64_t n = 0;
	const char *p = s;
	if (!isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	while (*p == ' ')
		p++;
	uint64_t mul = default_mul;
	if (*p != '\0') {
		size_t i;
		for (i = 0; i < nunits; i++)
			if (strcasecmp(p, units[i].name) == 0)
				break;
		if (i == nunits)
			return -1;
		mul = units[i].mul;
	}
	if (n != 0 && mul > UINT64_MAX / n)
		return -1;
	*value_r = n * mul;
	return 0;
}

int config_parse_size(const char *s, uint64_t *bytes_r)
{
	static const struct unit units[] = {
		{ "b", 1 },
		{ "k", 1024ULL },		{ "kb", 1024ULL },
		{ "m", 1024ULL * 1024 },	{ "mb", 1024ULL * 1024 },
		{ "g", 1024ULL * 1024 * 1024 }, { "gb", 1024ULL * 1024 * 1024 },
	};
	return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), 1,
			       bytes_r);
}

int config_parse_duration(const char *s, uint64_t *msecs_r)
{
	static const struct unit units[] = {
		{ "ms", 1 },	   { "s", 1000 },	 { "sec", 1000 },
		{ "m", 60000 },	   { "min", 60000 },	 { "h", 3600000 },
		{ "d", 86400000 },
	};
	return parse_with_unit(s, units, sizeof(units) / sizeof(units[0]), 1000,
			       msecs_r);
}

int config_parse_bool(const char *s, bool *value_r)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*value_r = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*value_r = false;
			return 0;
		}
	}
	return -1;
}

static void listen_list_free(struct listen_list *list)
{
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

static int parse_listen_list(const char *value, struct listen_list *list_r, char **error_r)
{
	struct listen_list list = { NULL, 0 };
	char *copy = xstrdup(value);
	char *save = NULL;
	for (char *item = strtok_r(copy, ", \t", &save); item != NULL;
	     item = strtok_r(NULL, ", \t", &save)) {
		struct listen_addr addr;
		const char *error;
		if (listen_addr_parse(item, &addr, &error) < 0) {
			*error_r = xasprintf("'%s': %s", item, error);
			free(copy);
			listen_list_free(&list);
			return -1;
		}
		list.items = xreallocarray(list.items, list.count + 1, sizeof(*list.items));
		list.items[list.count++] = addr;
	}
	free(copy);
	*list_r = list;
	return 0;
}

static char *make_path(const char *value, const char *base_dir)
{
	if (value[0] == '\0' || value[0] == '/' || base_dir == NULL)
		return xstrdup(value);
	return xasprintf("%s/%s", base_dir, value);
}

static void free_value(const struct config_option *opt, void *settings)
{
	void *p = field(settings, opt);
	switch (opt->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
		free(*(char **)p);
		*(char **)p = NULL;
		break;
	case CONFIG_LISTEN:
		listen_list_free(p);
		break;
	case CONFIG_NETWORKS:
		cidr_list_free(p);
		break;
	default:
		break;
	}
}

int config_set(const struct config_option *opt, void *settings, const char *value,
	       const char *base_dir, char **error_r)
{
	void *p = field(settings, opt);
	uint64_t n;
	switch (opt->type) {
	case CONFIG_STRING:
		free_value(opt, settings);
		*(char **)p = xstrdup(value);
		return 0;
	case CONFIG_PATH:
		free_value(opt, settings);
		*(char **)p = make_path(value, base_dir);
		return 0;
	case CONFIG_BOOL:
		if (config_parse_bool(value, p) < 0) {
			*error_r = xasprintf("'%s' is not yes or no", value);
			return -1;
		}
		return 0;
	case CONFIG_UINT:
	case CONFIG_SIZE:
	case CONFIG_DURATION: {
		int ret;
		const char *what;
		if (opt->type == CONFIG_UINT) {
			ret = parse_with_unit(value, NULL, 0, 1, &n);
			what = "a number";
		} else if (opt->type == CONFIG_SIZE) {
			ret = config_parse_size(value, &n);
			what = "a size (like 512, 64k, 10M, 1G)";
		} else {
			ret = config_parse_duration(value, &n);
			what = "a duration (like 500ms, 30s, 5m, 2h)";
		}
		if (ret < 0) {
			*error_r = xasprintf("'%s' is not %s", value, what);
			return -1;
		}
		uint64_t max = opt->max;
		if (opt->type == CONFIG_UINT && (max == 0 || max > UINT_MAX))
			max = UINT_MAX;
		if (n < opt->min || (max != 0 && n > max)) {
			if (max != 0)
				*error_r = xasprintf("'%s' is out of range (%llu..%llu%s)", value,
						     (unsigned long long)opt->min,
						     (unsigned long long)max,
						     opt->type == CONFIG_DURATION ? " ms" :
						     opt->type == CONFIG_SIZE ? " bytes" : "");
			else
				*error_r = xasprintf("'%s' is below the minimum %llu", value,
						     (unsigned long long)opt->min);
			return -1;
		}
		if (opt->type == CONFIG_UINT)
			*(unsigned int *)p = (unsigned int)n;
		else
			*(uint64_t *)p = n;
		return 0;
	}
	case CONFIG_ENUM:
		for (int i = 0; opt->choices[i] != NULL; i++) {
			if (strcasecmp(value, opt->choices[i]) == 0) {
				*(int *)p = i;
				return 0;
			}
		}
		{
			struct buf msg = BUF_INIT;
			buf_printf(&msg, "'%s' is not one of:", value);
			for (int i = 0; opt->choices[i] != NULL; i++)
				buf_printf(&msg, " %s", opt->choices[i]);
			*error_r = (char *)msg.data;
		}
		return -1;
	case CONFIG_LISTEN: {
		struct listen_list list;
		if (parse_listen_list(value, &list, error_r) < 0)
			return -1;
		free_value(opt, settings);
		*(struct listen_list *)p = list;
		return 0;
	}
	case CONFIG_NETWORKS: {
		struct cidr_list list;
		const char *error;
		if (cidr_list_parse(value, &list, &error) < 0) {
			*error_r = xstrdup(error);
			return -1;
		}
		free_value(opt, settings);
		*(struct cidr_list *)p = list;
		return 0;
	}
	}
	*error_r = xstrdup("internal error: unknown option type");
	return -1;
}

struct load_state {
	const struct config_option *opts;
	size_t count;
	void *settings;
	const char *base_dir;
	FILE *file;
	int line;	    /* line the reader handed to inih last */
	bool line_too_long; /* that line did not fit inih's buffer */
	int error_line;
	char *error;	    /* first error only */
	bool *seen;	    /* per option: set in this file */
};

/* inih's stream reader: counts lines so the handler can report them, and
   notices lines longer than inih's fixed buffer instead of letting it split
   them into two silently different lines. */
static char *reader_cb(char *str, int num, void *stream)
{
	struct load_state *st = stream;
	if (fgets(str, num, st->file) == NULL)
		return NULL;
	st->line++;
	size_t len = strlen(str);
	if (len == (size_t)num - 1 && str[len - 1] != '\n') {
		/* Swallow the rest of the line; report it at that line. */
		int c;
		while ((c = fgetc(st->file)) != EOF && c != '\n')
			;
		if (st->error == NULL) {
			st->error_line = st->line;
			st->error = xasprintf("line longer than %d characters", num - 2);
		}
	}
	return str;
}

static int handler_cb(void *user, const char *section, const char *key, const char *value)
{
	struct load_state *st = user;
	if (st->error != NULL)
		return 1;
	const struct config_option *opt = config_find(st->opts, st->count, section, key);
	if (opt == NULL) {
		st->error_line = st->line;
		bool known_section = false;
		for (size_t i = 0; i < st->count; i++)
			known_section |= strcmp(st->opts[i].section, section) == 0;
		if (section[0] == '\0')
			st->error = xasprintf("%s: option outside of any [section]", key);
		else if (!known_section)
			st->error = xasprintf("[%s]: unknown section", section);
		else
			st->error = xasprintf("[%s] %s: unknown option", section, key);
		return 0;
	}
	size_t idx = (size_t)(opt - st->opts);
	if (st->seen[idx]) {
		st->error_line = st->line;
		st->error = xasprintf("[%s] %s: set twice (an indented line continues the "
				      "previous option)", section, key);
		return 0;
	}
	st->seen[idx] = true;
	char *error = NULL;
	if (config_set(opt, st->settings, value, st->base_dir, &error) < 0) {
		st->error_line = st->line;
		st->error = xasprintf("[%s] %s: %s", section, key, error);
		free(error);
		return 0;
	}
	return 1;
}

int config_load(const struct config_option *opts, size_t count, void *settings,
		const char *path, char **error_r)
{
	for (size_t i = 0; i < count; i++) {
		char *error = NULL;
		if (config_set(&opts[i], settings, opts[i].def, NULL, &error) < 0) {
			*error_r = xasprintf("built-in default of [%s] %s: %s", opts[i].section,
					     opts[i].key, error);
			free(error);
			return -1;
		}
	}
	if (path == NULL)
		return 0;

	struct load_state st = { .opts = opts, .count = count, .settings = settings };
	st.file = fopen(path, "r");
	if (st.file == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL) {
		free(dir);
		dir = xstrdup(".");
	} else if (slash == dir) {
		slash[1] = '\0';
	} else {
		*slash = '\0';
	}
	st.base_dir = dir;
	st.seen = xcalloc(count, sizeof(bool));

	int ret = ini_parse_stream(reader_cb, &st, handler_cb, &st);
	fclose(st.file);
	free(st.seen);
	free(dir);

	if (st.error != NULL) {
		*error_r = xasprintf("%s:%d: %s", path, st.error_line, st.error);
		free(st.error);
		return -1;
	}
	if (ret != 0) {
		/* inih's own syntax errors: a line with neither [section] nor key = value. */
		*error_r = xasprintf("%s:%d: syntax error (expected [section] or key = value)",
				     path, ret);
		return -1;
	}
	return 0;
}

void config_free(const struct config_option *opts, size_t count, void *settings)
{
	for (size_t i = 0; i < count; i++)
		free_value(&opts[i], settings);
}
