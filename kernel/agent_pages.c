/*
 * agent_pages.c - the workload agent's page contents and folio layout codes,
 * the parts of agent.c that the host's tests check against kernel/script.py
 * (its `page_bytes`) without booting a guest.  Not compiled alone: agent.c
 * includes it (one translation unit, so no header is needed) after its
 * output and file helpers (fail, FAIL, get_text), and its `--gen` and
 * `--layout` modes run these functions on the host.
 *
 * Page `i` of content KIND with seed SEED (script.py's module docstring):
 * zero bytes; splitmix64 from the state SEED * 0x9E3779B97F4A7C15 +
 * i * 0xBF58476D1CE4E5B9 + 1 (random; mostly-random keeps its first 3584
 * bytes and zeroes the rest); or corpus page (SEED + i) mod COUNT of the
 * section named on the command line (text, code, fit-1:C, fit:C, fit+1:C,
 * file:KEY), with its second half zeroed for halfzero.
 */

/* ---- page contents: script.py's page_bytes, byte for byte --------------- */

enum { K_ZERO, K_RANDOM, K_MOSTLY, K_HALFZERO, K_CORPUS };

static const char *const kind_names[] = {
	"zero", "random", "mostly-random", "text", "code", "halfzero",
	"fit-1", "fit", "fit+1", "file", NULL
};

struct section { char name[96]; long first, count; };
struct content {
	int kind, section;      /* K_*; the corpus section (corpus kinds only) */
	uint64_t seed;
};

static struct section sections[MAX_SECTIONS];
static int nsections;
static const unsigned char *corpus;
static size_t corpus_len;

static void splitmix(uint64_t seed, uint64_t index, unsigned char *dst, size_t n) {
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + index * 0xBF58476D1CE4E5B9ULL + 1, z;
	for (size_t off = 0; off < n; off += 8) {
		x += 0x9E3779B97F4A7C15ULL;
		z = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
		z ^= z >> 31;
		memcpy(dst + off, &z, n - off < 8 ? n - off : 8);  /* x86: little-endian */
	}
}

/* DIR/corpus.idx (lines `SECTION FIRST COUNT`, in pages) and DIR/corpus.bin;
 * on any failure no section is kept, so no content can read past the corpus. */
static int corpus_load(const char *dir) {
	char path[512];
	struct stat st;
	long len;
	int fd, n = 0;
	snprintf(path, sizeof(path), "%s/corpus.idx", dir);
	if ((len = get_text(path)) < 0)
		FAIL(-1, "read %s: %s", path, strerror(-len));
	for (char *l = strtok(fbuf, "\n"); l && n < MAX_SECTIONS; l = strtok(NULL, "\n"))
		if (sscanf(l, "%95s %ld %ld", sections[n].name, &sections[n].first,
			   &sections[n].count) == 3)
			n++;
	snprintf(path, sizeof(path), "%s/corpus.bin", dir);
	fd = open(path, O_RDONLY);
	if (fd < 0 || fstat(fd, &st))
		FAIL(-1, "open %s: %s", path, strerror(errno));
	corpus_len = st.st_size;
	corpus = corpus_len ? mmap(NULL, corpus_len, PROT_READ, MAP_SHARED, fd, 0) : NULL;
	close(fd);
	if (corpus == MAP_FAILED)
		FAIL(-1, "mmap %s: %s", path, strerror(errno));
	for (int i = 0; i < n; i++)
		if (sections[i].first < 0 || sections[i].count <= 0 ||
		    (size_t)(sections[i].first + sections[i].count) * PAGE > corpus_len)
			FAIL(-1, "corpus section %s: pages %ld+%ld outside corpus.bin",
			     sections[i].name, sections[i].first, sections[i].count);
	nsections = n;
	return 0;
}

/* KIND SEED SECTION (SECTION `-` for generated kinds): 0, or -1 and an error. */
static int content_parse(const char *kind, const char *seed, const char *section,
			 struct content *c) {
	static const int kinds[] = { K_ZERO, K_RANDOM, K_MOSTLY, K_CORPUS, K_CORPUS,
				     K_HALFZERO, K_CORPUS, K_CORPUS, K_CORPUS, K_CORPUS };
	char *end;
	int k = -1;
	for (int i = 0; kind_names[i]; i++)
		if (!strcmp(kind, kind_names[i]))
			k = i;
	errno = 0;
	c->seed = strtoull(seed, &end, 10);
	if (k < 0 || errno || *end || end == seed)
		FAIL(-1, "content %s %s: unknown kind or bad seed", kind, seed);
	c->kind = kinds[k];
	c->section = -1;
	if (c->kind == K_CORPUS || c->kind == K_HALFZERO) {
		for (int i = 0; i < nsections; i++)
			if (!strcmp(sections[i].name, section))
				c->section = i;
		if (c->section < 0)
			FAIL(-1, "content %s %s %s: no such corpus section", kind, seed, section);
	}
	return 0;
}

static void gen_page(const struct content *c, uint64_t index, unsigned char *dst) {
	const struct section *s = c->section >= 0 ? &sections[c->section] : NULL;
	if (c->kind == K_ZERO) {
		memset(dst, 0, PAGE);
	} else if (c->kind == K_RANDOM) {
		splitmix(c->seed, index, dst, PAGE);
	} else if (c->kind == K_MOSTLY) {
		splitmix(c->seed, index, dst, PAGE * 7 / 8);
		memset(dst + PAGE * 7 / 8, 0, PAGE / 8);
	} else {
		memcpy(dst, corpus + (s->first + (c->seed + index) % (uint64_t)s->count) * PAGE,
		       PAGE);
		if (c->kind == K_HALFZERO)
			memset(dst + PAGE / 2, 0, PAGE / 2);
	}
}

/* ---- layout: folio sizes, run-length coded --------------------------------- */

/* "16x4" or "3x4,4x1": COUNTxSIZE runs of equal folio sizes, in address order. */
static void layout_code(const long *sizes, long n, char *dst, size_t len) {
	size_t used = 0;
	snprintf(dst, len, "-");
	for (long i = 0, j; i < n; i = j) {
		int w;

		for (j = i; j < n && sizes[j] == sizes[i]; j++)
			;
		w = snprintf(dst + used, len - used, "%s%ldx%ld", i ? "," : "", j - i, sizes[i]);
		if (w < 0 || used + w >= len) {
			snprintf(dst + (used < len - 4 ? used : len - 4), 4, "...");
			return;
		}
		used += w;
	}
}
