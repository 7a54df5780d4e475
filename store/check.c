/*
 * Recovery: reconciling the Maildir and the index in both directions.
 *
 * For every folder on disk a mailbox record must exist (UIDVALIDITY from
 * its petrel-mailbox file), and for every mailbox record a folder. Within a
 * folder, files and records are matched by base name (the part before ","):
 *
 *   record and file    the file is renamed if its flags lag the index
 *   record, no file    the record is expunged (the message is gone)
 *   file, no record    ours (",S=" right, ",U=" set): indexed under its
 *                      UID if that is free and not below UIDNEXT, else
 *                      under a fresh UID; anything else (another tool's
 *                      file, maybe with bare LFs) is imported through the
 *                      normal write path and the original removed.
 *
 * Rebuilding an index is the same walk against an empty index, so a lost
 * index comes back with its UIDs, UIDVALIDITY, flags and (up to 26 per
 * folder) keywords. Large folders are indexed in batches of transactions.
 */
#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/internal.h"

#define BATCH 256

static const struct {
	const char *name;
	unsigned int use;
} default_folders[] = {
	{ "Sent", STORE_USE_SENT },   { "Drafts", STORE_USE_DRAFTS },
	{ "Trash", STORE_USE_TRASH }, { "Junk", STORE_USE_JUNK },
	{ "Archive", STORE_USE_ARCHIVE },
};

struct checker {
	struct store_user *u;
	struct store_check_report *report;
	void (*log_cb)(const char *line, void *ctx);
	void *log_ctx;
	char **error_r;
};

static void say(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct checker *c, const char *fmt, ...)
{
	if (c->log_cb == NULL)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	c->log_cb(line, c->log_ctx);
}

void store_remove_tree(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL) {
		unlink(path);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *child = xasprintf("%s/%s", path, de->d_name);
		struct stat st;
		if (lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
			store_remove_tree(child);
		else
			unlink(child);
		free(child);
	}
	closedir(d);
	rmdir(path);
}

/* ------------------------------------------------------------- folders */

struct folder {
	char *name;   /* canonical */
	char *path;
};

static int cmp_folder(const void *a, const void *b)
{
	return strcmp(((const struct folder *)a)->name, ((const struct folder *)b)->name);
}

/* INBOX plus every ".x" directory that decodes to a valid name. Leftovers
   of interrupted deletes ("..deleted-*") are removed on the way. */
static struct folder *scan_folders(struct store_user *u, size_t *count_r)
{
	size_t count = 1;
	struct folder *f = xcalloc(1, sizeof(*f));
	f[0].name = xstrdup("INBOX");
	f[0].path = xstrdup(u->maildir);
	DIR *d = opendir(u->maildir);
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, "..deleted-", 10) == 0) {
			char *p = xasprintf("%s/%s", u->maildir, de->d_name);
			store_remove_tree(p);
			free(p);
			continue;
		}
		char *name = mailbox_name_from_dir(de->d_name);
		if (name == NULL)
			continue;
		char *path = xasprintf("%s/%s", u->maildir, de->d_name);
		char *cur = xasprintf("%s/cur", path);
		struct stat st;
		if (stat(cur, &st) == 0 && S_ISDIR(st.st_mode) && strcmp(name, "INBOX") != 0) {
			f = xreallocarray(f, count + 1, sizeof(*f));
			f[count].name = name;
			f[count].path = path;
			count++;
		} else {
			free(name);
			free(path);
		}
		free(cur);
	}
	if (d != NULL)
		closedir(d);
	qsort(f, count, sizeof(*f), cmp_folder);
	*count_r = count;
	return f;
}

static void free_folders(struct folder *f, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(f[i].name);
		free(f[i].path);
	}
	free(f);
}

/* --------------------------------------------------------------- files */

struct file_entry {
	char *name;
	struct msgfile_name parsed;
	uint64_t disk_size;
	int64_t mtime;
	bool matched;
	bool ours; /* our naming and size: indexable in place */
};

/* Orders an array of file_entry pointers by their U= UID. */
static int cmp_file_uid(const void *a, const void *b)
{
	const struct file_entry *x = *(struct file_entry *const *)a;
	const struct file_entry *y = *(struct file_entry *const *)b;
	return x->parsed.uid < y->parsed.uid ? -1 : x->parsed.uid > y->parsed.uid;
}

static struct file_entry *list_files(const char *dir, size_t *count_r)
{
	size_t count = 0, cap = 0;
	struct file_entry *files = NULL;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, de->d_name);
		struct stat st;
		bool regular = stat(path, &st) == 0 && S_ISREG(st.st_mode);
		free(path);
		if (!regular)
			continue;
		if (count == cap) {
			cap = cap ? cap * 2 : 64;
			files = xreallocarray(files, cap, sizeof(*files));
		}
		struct file_entry *fe = &files[count++];
		memset(fe, 0, sizeof(*fe));
		fe->name = xstrdup(de->d_name);
		msgfile_parse_name(fe->name, &fe->parsed);
		fe->disk_size = (uint64_t)st.st_size;
		fe->mtime = (int64_t)st.st_mtime;
		fe->ours = fe->parsed.has_size && fe->parsed.size == fe->disk_size && fe->parsed.uid != 0;
	}
	if (d != NULL)
		closedir(d);
	*count_r = count;
	return files;
}

static void free_files(struct file_entry *files, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(files[i].name);
	free(files);
}

/* Keyword ids for the letters in a file name. */
static struct store_keywords letters_to_keywords(uint32_t letters, const struct mailbox_file *mf,
						 const char **names)
{
	size_t n = 0;
	for (int l = 0; l < 26; l++)
		if ((letters & (1u << l)) && mf->keywords[l] != NULL)
			names[n++] = mf->keywords[l];
	return (struct store_keywords){ names, n };
}

/* ----------------------------------------------------- indexing in place */

/* Parses one of our files (CRLF already) and writes its index records. */
static int index_own_file(struct checker *c, MDB_txn *txn, struct mailbox_rec *rec,
			  const char *folder, struct file_entry *fe, uint32_t uid,
			  const struct mailbox_file *mf)
{
	struct store_user *u = c->u;
	char *path = xasprintf("%s/cur/%s", folder, fe->name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return STORE_OK; /* vanished meanwhile */
	struct msgtext mt;
	int ret = msgtext_load(fd, &mt);
	close(fd);
	if (ret < 0)
		return STORE_OK; /* unreadable: left for the next check */
	struct buf fields = BUF_INIT, lists = BUF_INIT;
	msgtext_cached_lines(buf_span(&mt.header), &fields);
	msgtext_word_lists(buf_span(&mt.folded), mt.folded_header_len, true, &lists);

	const char *kw_names[26];
	struct store_keywords kw = letters_to_keywords(fe->parsed.keyword_letters, mf, kw_names);
	uint64_t keywords = 0;
	ret = user_keywords_mask(u, txn, &kw, true, &keywords);
	if (ret == STORE_ERR_LIMIT)
		ret = STORE_OK; /* past 64 keywords: the rest are dropped */
	struct msg_rec *mr = msg_rec_new(fe->name, fe->parsed.base_len);
	mr->flags = fe->parsed.flags;
	mr->keywords = keywords;
	mr->modseq = rec->highest_modseq;
	mr->internaldate = fe->mtime;
	mr->size = fe->disk_size;
	if (ret == STORE_OK)
		ret = msg_put(u, txn, rec->id, uid, mr);
	if (ret == STORE_OK)
		ret = modseq_move(u, txn, rec->id, uid, 0, mr->modseq, MODSEQ_CHANGED);
	if (ret == STORE_OK)
		ret = msgindex_put(u, txn, rec, uid, mt.mime, buf_span(&fields), buf_span(&lists),
				   c->error_r);
	if (ret == STORE_OK) {
		rec->messages++;
		rec->size += fe->disk_size;
		if (!(mr->flags & STORE_FLAG_SEEN))
			rec->unseen++;
		if (uid >= rec->uidnext)
			rec->uidnext = uid + 1;
	}
	free(mr);
	buf_free(&fields);
	buf_free(&lists);
	msgtext_free(&mt);
	return ret;
}

/* Imports a file another tool wrote, through the normal write path. */
static int import_file(struct store_user *u, const char *mailbox, const char *path,
		       uint32_t flags, struct store_keywords kw, int64_t internaldate)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return STORE_ERR_IO;
	struct store_draft *d;
	int ret = store_draft_begin(u, &d, NULL);
	uint8_t chunk[65536];
	ssize_t n;
	while (ret == STORE_OK && (n = read(fd, chunk, sizeof(chunk))) > 0)
		ret = store_draft_write(d, chunk, (size_t)n, NULL);
	close(fd);
	if (ret == STORE_OK)
		ret = store_draft_finish(d, NULL);
	if (ret < 0) {
		store_draft_abort(&d);
		return ret;
	}
	struct store_append item = { .draft = d, .mailbox = mailbox, .flags = flags,
				     .keywords = kw, .internaldate = internaldate };
	ret = store_append(u, &item, 1, NULL);
	if (ret == STORE_OK)
		ret = item.result;
	if (ret == STORE_OK)
		unlink(path); /* now stored under our name */
	return ret;
}

/* ------------------------------------------------------ reconciliation */

struct record {
	uint32_t uid;
	char *base;
	size_t base_len;
	uint32_t flags;
	uint64_t keywords;
};

static int cmp_record_base(const void *a, const void *b)
{
	const struct record *x = a, *y = b;
	size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
	int c = memcmp(x->base, y->base, n);
	return c != 0 ? c : (x->base_len < y->base_len ? -1 : x->base_len > y->base_len);
}

static struct record *load_records(struct store_user *u, MDB_txn *txn, uint32_t mailbox,
				   size_t *count_r)
{
	size_t count = 0, cap = 0;
	struct record *recs = NULL;
	MDB_cursor *cur;
	if (mdb_cursor_open(txn, u->msgs, &cur) != 0) {
		*count_r = 0;
		return NULL;
	}
	MDB_val v;
	uint32_t uid;
	for (MDB_cursor_op op = MDB_SET_RANGE; msg_cursor_get(cur, mailbox, op, &uid, &v);
	     op = MDB_NEXT) {
		struct msg_rec mr;
		if (v.mv_size < sizeof(mr))
			continue;
		memcpy(&mr, v.mv_data, sizeof(mr));
		if (count == cap) {
			cap = cap ? cap * 2 : 64;
			recs = xreallocarray(recs, cap, sizeof(*recs));
		}
		recs[count].uid = uid;
		recs[count].base_len = mr.name_len;
		recs[count].base = xstrndup((const char *)v.mv_data + sizeof(mr), mr.name_len);
		recs[count].flags = mr.flags;
		recs[count].keywords = mr.keywords;
		count++;
	}
	mdb_cursor_close(cur);
	if (count > 1)
		qsort(recs, count, sizeof(*recs), cmp_record_base);
	*count_r = count;
	return recs;
}

static struct record *find_record(struct record *recs, size_t count, const char *name,
				  size_t base_len)
{
	struct record key = { .base = (char *)name, .base_len = base_len };
	return count == 0 ? NULL : bsearch(&key, recs, count, sizeof(*recs), cmp_record_base);
}

static bool uid_taken(struct record *recs, size_t count, uint32_t uid)
{
	for (size_t i = 0; i < count; i++)
		if (recs[i].uid == uid)
			return true;
	return false;
}

/* Expunges a record whose file is gone. */
static int expunge_record(struct store_user *u, MDB_txn *txn, struct mailbox_rec *rec,
			  uint32_t uid)
{
	struct msg_info old;
	int ret = msg_get(u, txn, rec->id, uid, &old);
	if (ret < 0)
		return ret == STORE_ERR_NOT_FOUND ? STORE_OK : ret;
	ret = msgindex_del(u, txn, rec, uid);
	if (ret == STORE_OK)
		ret = msg_del(u, txn, rec->id, uid);
	if (ret == STORE_OK)
		ret = modseq_move(u, txn, rec->id, uid, old.modseq, rec->highest_modseq,
				  MODSEQ_EXPUNGED);
	if (ret == STORE_OK) {
		rec->messages--;
		rec->size -= old.size;
		if (!(old.flags & STORE_FLAG_SEEN))
			rec->unseen--;
	}
	return ret;
}

/* Runs fn over items in transactions of BATCH, retrying on map growth. */
typedef int batch_fn(struct checker *c, MDB_txn *txn, size_t first, size_t last, void *ctx);

static int in_batches(struct checker *c, size_t total, batch_fn *fn, void *ctx)
{
	for (size_t first = 0; first < total || (first == 0 && total == 0); first += BATCH) {
		size_t last = first + BATCH < total ? first + BATCH : total;
		for (;;) {
			MDB_txn *txn;
			int ret = user_txn_begin(c->u, true, &txn, c->error_r);
			if (ret < 0)
				return ret;
			ret = fn(c, txn, first, last, ctx);
			if (ret == STORE_OK)
				ret = user_txn_commit(c->u, txn, c->error_r);
			else
				user_txn_abort(c->u, txn);
			if (ret == STORE_OK)
				break;
			if (ret != STORE_RETRY || user_grow_map(c->u, c->error_r) < 0)
				return ret;
		}
		if (total == 0)
			break;
	}
	return STORE_OK;
}

struct folder_job {
	struct folder *folder;
	struct mailbox_file mf;
	struct record *recs;
	size_t rec_count;
	struct file_entry *files;
	size_t file_count;
	struct file_entry **todo; /* own files to index, ascending U= */
	size_t todo_count;
};

static int index_batch(struct checker *c, MDB_txn *txn, size_t first, size_t last, void *ctx)
{
	struct folder_job *j = ctx;
	struct mailbox_rec rec;
	int ret = user_get_mailbox(c->u, txn, j->folder->name, &rec);
	if (ret < 0)
		return ret;
	rec.highest_modseq++;
	for (size_t i = first; i < last && ret == STORE_OK; i++) {
		struct file_entry *fe = j->todo[i];
		uint32_t uid = fe->parsed.uid;
		if (graveyard_holds(c->u, txn, rec.id, uid)) {
			/* Expunged; its removal has not happened yet. */
			char *path = xasprintf("%s/cur/%s", j->folder->path, fe->name);
			unlink(path);
			free(path);
			say(c, "%s: removed %s (expunged)", j->folder->name, fe->name);
			continue;
		}
		if (uid < rec.uidnext || uid_taken(j->recs, j->rec_count, uid)) {
			/* Its UID is taken or below UIDNEXT (it was never
			   acknowledged, or it is a stray copy): a fresh one. */
			uid = rec.uidnext;
			char *new_name = xasprintf("%.*s,U=%u%s", (int)fe->parsed.base_len, fe->name, uid,
						   strstr(fe->name, ":2,") ? strstr(fe->name, ":2,") : "");
			/* Drop the old U= field from the base. */
			char *old_u = strstr(new_name, ",U=");
			char *second_u = old_u ? strstr(old_u + 3, ",U=") : NULL;
			if (second_u != NULL) {
				char *end = old_u + 3;
				while (*end >= '0' && *end <= '9')
					end++;
				memmove(old_u, end, strlen(end) + 1);
			}
			char *from = xasprintf("%s/cur/%s", j->folder->path, fe->name);
			char *to = xasprintf("%s/cur/%s", j->folder->path, new_name);
			if (rename(from, to) == 0) {
				free(fe->name);
				fe->name = new_name;
				new_name = NULL;
				msgfile_parse_name(fe->name, &fe->parsed);
				c->report->uids_reassigned++;
				say(c, "%s: %s given UID %u", j->folder->name, fe->name, uid);
			}
			free(new_name);
			free(from);
			free(to);
		}
		ret = index_own_file(c, txn, &rec, j->folder->path, fe, uid, &j->mf);
		c->report->files_indexed++;
		say(c, "%s: indexed %s as UID %u", j->folder->name, fe->name, uid);
	}
	if (ret == STORE_OK)
		ret = user_put_mailbox(c->u, txn, j->folder->name, &rec);
	return ret;
}

static int fix_records(struct checker *c, MDB_txn *txn, size_t first, size_t last, void *ctx)
{
	struct folder_job *j = ctx;
	struct mailbox_rec rec;
	int ret = user_get_mailbox(c->u, txn, j->folder->name, &rec);
	if (ret < 0)
		return ret;
	rec.highest_modseq++;
	char *names[STORE_MAX_KEYWORDS];
	user_keyword_names(c->u, txn, names);
	for (size_t i = 0; ret == STORE_OK && i < j->rec_count; i++) {
		struct record *r = &j->recs[i];
		struct file_entry *fe = NULL;
		for (size_t f = 0; f < j->file_count && fe == NULL; f++)
			if (!j->files[f].matched && j->files[f].parsed.base_len == r->base_len &&
			    memcmp(j->files[f].name, r->base, r->base_len) == 0)
				fe = &j->files[f];
		if (fe == NULL) {
			ret = expunge_record(c->u, txn, &rec, r->uid);
			c->report->records_expunged++;
			say(c, "%s: UID %u has no file; expunged", j->folder->name, r->uid);
			continue;
		}
		fe->matched = true;
		struct msg_rec probe = { .flags = r->flags, .keywords = r->keywords,
					 .name_len = (uint32_t)r->base_len };
		char suffix[64];
		msgfile_flag_suffix(probe.flags, probe.keywords, &j->mf, (const char *const *)names,
				    suffix, sizeof(suffix));
		char *expected = xasprintf("%s:2,%s", r->base, suffix);
		if (strcmp(expected, fe->name) != 0) {
			char *from = xasprintf("%s/cur/%s", j->folder->path, fe->name);
			char *to = xasprintf("%s/cur/%s", j->folder->path, expected);
			if (rename(from, to) == 0) {
				c->report->files_renamed++;
				say(c, "%s: renamed %s to match the index", j->folder->name, fe->name);
			}
			free(from);
			free(to);
		}
		free(expected);
	}
	keyword_names_free(names);
	if (ret == STORE_OK)
		ret = user_put_mailbox(c->u, txn, j->folder->name, &rec);
	(void)first;
	(void)last;
	return ret;
}

static int reconcile_folder(struct checker *c, struct folder *folder)
{
	struct store_user *u = c->u;
	struct folder_job j = { .folder = folder };
	mailbox_file_read(folder->path, &j.mf);
	char *cur = xasprintf("%s/cur", folder->path);
	j.files = list_files(cur, &j.file_count);
	free(cur);

	MDB_txn *txn;
	int ret = user_txn_begin(u, false, &txn, c->error_r);
	if (ret < 0)
		goto out;
	struct mailbox_rec rec;
	ret = user_get_mailbox(u, txn, folder->name, &rec);
	if (ret == STORE_OK)
		j.recs = load_records(u, txn, rec.id, &j.rec_count);
	user_txn_abort(u, txn);
	if (ret < 0)
		goto out;

	/* Records first: match them with files, expunge the lost ones. */
	if (j.rec_count > 0 && (ret = in_batches(c, 1, fix_records, &j)) < 0)
		goto out;

	/* Unmatched files of ours are indexed in place, lowest U= first so
	   each keeps its UID where it can. */
	j.todo = xcalloc(j.file_count ? j.file_count : 1, sizeof(*j.todo));
	for (size_t i = 0; i < j.file_count; i++) {
		struct file_entry *fe = &j.files[i];
		if (fe->matched || !fe->ours)
			continue;
		if (find_record(j.recs, j.rec_count, fe->name, fe->parsed.base_len) != NULL)
			continue;
		j.todo[j.todo_count++] = fe;
	}
	if (j.todo_count > 1)
		qsort(j.todo, j.todo_count, sizeof(*j.todo), cmp_file_uid);
	if (j.todo_count > 0)
		ret = in_batches(c, j.todo_count, index_batch, &j);
	if (ret < 0)
		goto out;

	/* Everything else came from another tool: import it properly. */
	for (size_t i = 0; i < j.file_count; i++) {
		struct file_entry *fe = &j.files[i];
		if (fe->matched || fe->ours)
			continue;
		char *path = xasprintf("%s/cur/%s", folder->path, fe->name);
		const char *kw_names[26];
		struct store_keywords kw = letters_to_keywords(fe->parsed.keyword_letters, &j.mf,
							       kw_names);
		if (import_file(u, folder->name, path, fe->parsed.flags, kw, fe->mtime) == STORE_OK) {
			c->report->files_indexed++;
			say(c, "%s: imported %s", folder->name, fe->name);
		}
		free(path);
	}
	/* A floor the index may not know (UIDs freed by expunges). */
	if (j.mf.uidnext_floor > 1) {
		for (;;) {
			if ((ret = user_txn_begin(u, true, &txn, c->error_r)) < 0)
				break;
			ret = user_get_mailbox(u, txn, folder->name, &rec);
			if (ret == STORE_OK && rec.uidnext < j.mf.uidnext_floor) {
				rec.uidnext = j.mf.uidnext_floor;
				ret = user_put_mailbox(u, txn, folder->name, &rec);
				if (ret == STORE_OK)
					ret = user_txn_commit(u, txn, c->error_r);
				else
					user_txn_abort(u, txn);
			} else {
				user_txn_abort(u, txn);
			}
			if (ret != STORE_RETRY || user_grow_map(u, c->error_r) < 0)
				break;
		}
	}
out:
	for (size_t i = 0; i < j.rec_count; i++)
		free(j.recs[i].base);
	free(j.recs);
	free(j.todo);
	free_files(j.files, j.file_count);
	mailbox_file_free(&j.mf);
	return ret;
}

/* Creates records for folders on disk the index does not know. */
static int adopt_folders(struct checker *c, MDB_txn *txn, struct folder *folders, size_t count)
{
	struct store_user *u = c->u;
	for (size_t i = 0; i < count; i++) {
		struct mailbox_rec rec;
		if (user_get_mailbox(u, txn, folders[i].name, &rec) == STORE_OK)
			continue;
		struct mailbox_file mf;
		bool have_mf = mailbox_file_read(folders[i].path, &mf) == STORE_OK;
		uint32_t uidvalidity = have_mf ? mf.uidvalidity : 0;
		unsigned int use = have_mf ? mf.special_use : 0;
		if (have_mf) {
			/* Keep handing out UIDVALIDITYs above every one seen. */
			uint64_t last = 0;
			user_meta_get_u64(u, txn, "last_uidvalidity", &last);
			if (uidvalidity > last)
				user_meta_put_u64(u, txn, "last_uidvalidity", uidvalidity);
		}
		mailbox_file_free(&mf);
		int ret = user_create_mailbox(u, txn, folders[i].name, use, uidvalidity, NULL, c->error_r);
		if (ret < 0)
			return ret;
		c->report->mailboxes_found++;
		say(c, "%s: folder found on disk, added", folders[i].name);
	}
	return STORE_OK;
}

/* Recreates folders of mailboxes whose directory vanished. */
static void restore_missing_folders(struct checker *c, MDB_txn *txn)
{
	MDB_cursor *cur;
	if (mdb_cursor_open(txn, c->u->mailboxes, &cur) != 0)
		return;
	MDB_val k, v;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		char *name = xstrndup(k.mv_data, k.mv_size);
		char *path = mailbox_path(c->u, name);
		struct stat st;
		if (path != NULL && stat(path, &st) < 0) {
			char *sub[4] = { xstrdup(path), xasprintf("%s/cur", path),
					 xasprintf("%s/new", path), xasprintf("%s/tmp", path) };
			for (int i = 0; i < 4; i++) {
				mkdir(sub[i], 0750);
				free(sub[i]);
			}
			struct mailbox_rec rec;
			memcpy(&rec, v.mv_data, sizeof(rec));
			struct mailbox_file mf = { .uidvalidity = rec.uidvalidity,
						   .uidnext_floor = rec.uidnext,
						   .special_use = rec.special_use };
			mailbox_file_write(path, &mf, true);
			say(c, "%s: folder was missing, recreated", name);
		}
		free(path);
		free(name);
	}
	mdb_cursor_close(cur);
}

static void load_subscriptions(struct store_user *u, MDB_txn *txn)
{
	char *path = xasprintf("%s/subscriptions", u->maildir);
	FILE *f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return;
	char line[1024];
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		const char *why;
		if (line[0] == '\0' || store_mailbox_name_check(line, &why) < 0)
			continue;
		char *canonical = mailbox_canonical(line);
		MDB_val k = mdb_val(canonical, strlen(canonical)), v = mdb_val("", 0);
		mdb_put(txn, u->subscriptions, &k, &v, 0);
		free(canonical);
	}
	fclose(f);
}

/* Quota usage and per-mailbox counters follow from the records. */
static int recount(struct checker *c, MDB_txn *txn, void *unused)
{
	uint64_t bytes = 0, messages = 0;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, c->u->mailboxes, &cur);
	if (rc != 0)
		return user_rc(rc, "mailboxes", c->error_r);
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct mailbox_rec rec;
		memcpy(&rec, v.mv_data, sizeof(rec));
		bytes += rec.size;
		messages += rec.messages;
	}
	mdb_cursor_close(cur);
	int ret = user_meta_put_u64(c->u, txn, "quota_bytes", bytes);
	if (ret == STORE_OK)
		ret = user_meta_put_u64(c->u, txn, "quota_messages", messages);
	return ret;
}

/* A checker step in one write transaction (user_write's retries). */
typedef int txn_fn(struct checker *c, MDB_txn *txn, void *ctx);

struct step {
	struct checker *c;
	txn_fn *fn;
	void *ctx;
};

static int step_cb(struct store_user *u, MDB_txn *txn, void *ctx, char **error_r)
{
	struct step *st = ctx;
	return st->fn(st->c, txn, st->ctx);
}

static int run_txn(struct checker *c, txn_fn *fn, void *ctx)
{
	struct step st = { c, fn, ctx };
	return user_write(c->u, step_cb, &st, c->error_r);
}

struct folders_ctx {
	struct folder *folders;
	size_t count;
	bool new_user;
};

static int setup_mailboxes(struct checker *c, MDB_txn *txn, void *ctx)
{
	struct folders_ctx *fc = ctx;
	struct store_user *u = c->u;
	int ret = adopt_folders(c, txn, fc->folders, fc->count);
	if (ret < 0 || !fc->new_user) {
		restore_missing_folders(c, txn);
		load_subscriptions(u, txn);
		return ret;
	}
	/* A new user: the folders mail clients look for, subscribed (clients
	   such as Thunderbird show only subscribed folders). */
	for (size_t i = 0; i < sizeof(default_folders) / sizeof(default_folders[0]); i++) {
		struct mailbox_rec rec;
		if (user_get_mailbox(u, txn, default_folders[i].name, &rec) == STORE_ERR_NOT_FOUND &&
		    (ret = user_create_mailbox(u, txn, default_folders[i].name,
					       default_folders[i].use, 0, NULL, c->error_r)) < 0)
			return ret;
	}
	const char *subscribe[] = { "INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive" };
	for (size_t i = 0; i < sizeof(subscribe) / sizeof(subscribe[0]); i++) {
		MDB_val k = mdb_val(subscribe[i], strlen(subscribe[i])), v = mdb_val("", 0);
		if ((ret = user_rc(mdb_put(txn, u->subscriptions, &k, &v, 0), "subscriptions",
				   c->error_r)) < 0)
			return ret;
	}
	return user_write_subscriptions(u, txn);
}

static int set_schema(struct checker *c, MDB_txn *txn, void *unused)
{
	return user_meta_put_u64(c->u, txn, "schema", STORE_SCHEMA_VERSION);
}

static int reconcile_all(struct checker *c, bool new_user)
{
	size_t count;
	struct folder *folders = scan_folders(c->u, &count);
	struct folders_ctx fc = { folders, count, new_user };
	int ret = run_txn(c, setup_mailboxes, &fc);
	for (size_t i = 0; ret == STORE_OK && i < count; i++)
		ret = reconcile_folder(c, &folders[i]);
	free_folders(folders, count);
	if (ret == STORE_OK)
		ret = run_txn(c, recount, NULL);
	return ret;
}

int check_rebuild(struct store_user *u, bool new_user, char **error_r)
{
	struct store_check_report report = { .index_rebuilt = true };
	struct checker c = { .u = u, .report = &report, .error_r = error_r };
	int ret = reconcile_all(&c, new_user);
	/* The schema goes in last: a rebuild cut short starts over. */
	if (ret == STORE_OK)
		ret = run_txn(&c, set_schema, NULL);
	return ret;
}

int store_check(struct store *store, const char *user, struct store_check_report *report,
		void (*log_cb)(const char *line, void *ctx), void *ctx, char **error_r)
{
	memset(report, 0, sizeof(*report));
	struct store_user *u;
	int ret = store_user_open(store, user, &u, error_r);
	if (ret < 0)
		return ret;
	report->index_rebuilt = u->rebuilt;
	u->rebuilt = false;
	struct checker c = { u, report, log_cb, ctx, error_r };
	/* Expunged files still waiting for removal go first: check must not
	   take them for messages the index lost. */
	ret = graveyard_purge(u, error_r);
	if (ret == STORE_OK)
		ret = reconcile_all(&c, false);
	if (ret == STORE_OK) {
		ret = uidlist_check(u, &report->uid_lists_rebuilt, error_r);
		if (report->uid_lists_rebuilt)
			say(&c, "UID lists did not match the message records: rebuilt");
	}
	store_user_close(&u);
	return ret;
}

void check_import_new(struct store_user *u, const char *mailbox, const char *folder,
		      struct timespec *mtime)
{
	char *dir = xasprintf("%s/new", folder);
	struct stat st;
	if (stat(dir, &st) < 0 || (st.st_mtim.tv_sec == mtime->tv_sec &&
				   st.st_mtim.tv_nsec == mtime->tv_nsec)) {
		free(dir);
		return;
	}
	size_t count;
	struct file_entry *files = list_files(dir, &count);
	for (size_t i = 0; i < count; i++) {
		char *path = xasprintf("%s/%s", dir, files[i].name);
		/* new/ means "not seen yet": no flags, whatever the name says. */
		import_file(u, mailbox, path, 0, (struct store_keywords){ NULL, 0 }, files[i].mtime);
		free(path);
	}
	free_files(files, count);
	/* Remember the state after our own changes to new/. */
	if (stat(dir, &st) == 0)
		*mtime = st.st_mtim;
	free(dir);
}

/* ------------------------------------------------------ crashed writers */

static char *marker_path(struct store_user *u, long pid)
{
	return xasprintf("%s/writer-%ld", u->index_dir, pid);
}

void check_mark_writer(struct store_user *u)
{
	if (u->marked)
		return;
	char *path = marker_path(u, (long)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
	if (fd >= 0)
		close(fd);
	free(path);
	u->marked = true;
}

void check_unmark_writer(struct store_user *u)
{
	if (!u->marked)
		return;
	char *path = marker_path(u, (long)getpid());
	unlink(path);
	free(path);
	u->marked = false;
}

/* Files a dead writer moved into cur/ without committing: named by it
   ("P<pid>Q" in the unique part) and not in the index. They were never
   acknowledged, so removing them loses nothing and the sender's retry
   duplicates nothing. Its drafts in tmp/ go too. */
static int discard_uncommitted(struct store_user *u, long pid, char **error_r)
{
	char *needle = xasprintf("P%ldQ", pid);
	size_t count;
	struct folder *folders = scan_folders(u, &count);
	int ret = STORE_OK;
	for (size_t i = 0; ret == STORE_OK && i < count; i++) {
		MDB_txn *txn;
		if ((ret = user_txn_begin(u, false, &txn, error_r)) < 0)
			break;
		struct mailbox_rec rec;
		size_t rec_count = 0;
		struct record *recs = NULL;
		bool known = user_get_mailbox(u, txn, folders[i].name, &rec) == STORE_OK;
		if (known)
			recs = load_records(u, txn, rec.id, &rec_count);
		user_txn_abort(u, txn);
		char *cur = xasprintf("%s/cur", folders[i].path);
		size_t file_count;
		struct file_entry *files = list_files(cur, &file_count);
		for (size_t f = 0; known && f < file_count; f++) {
			struct file_entry *fe = &files[f];
			const char *p = memmem(fe->name, fe->parsed.base_len, needle, strlen(needle));
			if (p == NULL ||
			    find_record(recs, rec_count, fe->name, fe->parsed.base_len) != NULL)
				continue;
			char *path = xasprintf("%s/%s", cur, fe->name);
			unlink(path);
			free(path);
		}
		free_files(files, file_count);
		free(cur);
		for (size_t r = 0; r < rec_count; r++)
			free(recs[r].base);
		free(recs);
	}
	free_folders(folders, count);
	/* Its drafts, in tmp/. */
	char *tmp = xasprintf("%s/tmp", u->maildir);
	DIR *d = opendir(tmp);
	struct dirent *de;
	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strstr(de->d_name, needle) == NULL)
			continue;
		char *path = xasprintf("%s/%s", tmp, de->d_name);
		unlink(path);
		free(path);
	}
	if (d != NULL)
		closedir(d);
	free(needle);
	free(tmp);
	return ret;
}

int check_crashed_writers(struct store_user *u, char **error_r)
{
	DIR *d = opendir(u->index_dir);
	if (d == NULL)
		return STORE_OK;
	struct dirent *de;
	int ret = STORE_OK;
	while (ret == STORE_OK && (de = readdir(d)) != NULL) {
		long pid;
		if (sscanf(de->d_name, "writer-%ld", &pid) != 1 || pid <= 0)
			continue;
		if (pid == (long)getpid() || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue; /* alive (or not ours to judge) */
		ret = discard_uncommitted(u, pid, error_r);
		if (ret == STORE_OK) {
			char *path = marker_path(u, pid);
			unlink(path);
			free(path);
		}
	}
	closedir(d);
	return ret;
}
