/*
 * probe.c - the guest's test program: push chosen pages into zswap, group by
 * group, and read them back, printing zswap's counters at every stage.
 *
 * Built on the host with `gcc -static -O2` and run from the guest's /init
 * (see guest.py).  Usage:
 *
 *   probe PAGEFILE PAGESIZE PLANFILE PREFIX   run the plan
 *   probe --counters STAGE PREFIX             only dump the counters
 *
 * PLANFILE holds one group per line: `NAME FIRST COUNT` (page indexes into
 * PAGEFILE).  Every output line starts with PREFIX (the harness uses "ZSS")
 * so the records can be picked out of a noisy serial console:
 *
 *   PREFIX stage NAME                  a counter dump follows
 *   PREFIX counter NAME VALUE          /sys/kernel/debug/zswap/NAME
 *   PREFIX memcg NAME VALUE            zswap lines of our cgroup's memory.stat
 *   PREFIX vmstat NAME VALUE           zswap lines of /proc/vmstat
 *   PREFIX group NAME FIRST COUNT swapped=N
 *   PREFIX verify NAME ok=N bad=M
 *   PREFIX badpage INDEX
 *   PREFIX error MESSAGE               then carry on where possible
 *
 * memcg statistics are per-CPU deltas folded in (rstat flush) only when
 * enough have piled up or by a periodic worker every 2 s, so memory.stat can
 * lag by a few pages.  With ZSS_SETTLE_MS=N in the environment every counter
 * dump first sleeps N ms, long enough for that worker to run.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21 /* Linux 5.4+; old libc headers may lack it */
#endif

#define MAX_GROUPS 256

struct group {
	char name[64];
	long first, count;
};

static const char *prefix = "ZSS";
static long settle_ms;

static void error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void error(const char *fmt, ...)
{
	va_list ap;

	printf("%s error ", prefix);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Names of interest in memory.stat and /proc/vmstat ("zswap" is bytes). */
static const char *const memcg_names[] = {
	"zswap", "zswapped", "zswap_incomp", "zswpin", "zswpout", "zswpwb", NULL
};
/* pswpin/pswpout: pages that went to the swap device itself. */
static const char *const vmstat_names[] = {
	"zswpin", "zswpout", "zswpwb", "pswpin", "pswpout", NULL
};

/* Print the `name value` lines of FILE whose name is in NAMES. */
static void dump_keyed(const char *path, const char *kind, const char *const *names)
{
	char line[256], key[128];
	unsigned long long val;
	FILE *f = fopen(path, "r");

	if (!f) {
		error("open %s: %s", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %llu", key, &val) != 2)
			continue;
		for (int i = 0; names[i]; i++)
			if (!strcmp(key, names[i]))
				printf("%s %s %s %llu\n", prefix, kind, key, val);
	}
	fclose(f);
}

/* Our own cgroup v2 path: the "0::/path" line of /proc/self/cgroup. */
static int own_cgroup(char *buf, size_t len)
{
	char line[512];
	int found = 0;
	FILE *f = fopen("/proc/self/cgroup", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			snprintf(buf, len, "%s", line + 3);
			found = 1;
		}
	}
	fclose(f);
	return found;
}

static void dump_counters(const char *stage)
{
	const char *dir = "/sys/kernel/debug/zswap";
	struct dirent **ents;
	char path[768], cg[512];
	int n;

	if (settle_ms > 0)
		usleep(settle_ms * 1000);
	printf("%s stage %s\n", prefix, stage);
	/* Sorted so two dumps of one kernel read alike. */
	n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0) {
		error("scandir %s: %s", dir, strerror(errno));
	} else {
		for (int i = 0; i < n; i++) {
			unsigned long long val;
			FILE *f;

			if (ents[i]->d_name[0] == '.')
				goto next;
			snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
			f = fopen(path, "r");
			if (!f || fscanf(f, "%llu", &val) != 1)
				error("read %s", path);
			else
				printf("%s counter %s %llu\n", prefix, ents[i]->d_name, val);
			if (f)
				fclose(f);
next:
			free(ents[i]);
		}
		free(ents);
	}
	if (own_cgroup(cg, sizeof(cg))) {
		/* The root cgroup has no memory.stat: a child is needed for memcg lines. */
		size_t n = strlen(cg);

		snprintf(path, sizeof(path), "/sys/fs/cgroup%s%smemory.stat", cg,
			 n && cg[n - 1] == '/' ? "" : "/");
		if (access(path, R_OK) == 0)
			dump_keyed(path, "memcg", memcg_names);
		else
			error("no memory.stat for cgroup %s", cg);
	} else {
		error("no cgroup v2 line in /proc/self/cgroup");
	}
	dump_keyed("/proc/vmstat", "vmstat", vmstat_names);
	fflush(stdout);
}

/* Bit 62 of the page's /proc/self/pagemap entry: the PTE is a swap entry. */
static int is_swapped(int pagemap, const void *addr, long psize)
{
	uint64_t ent;
	off_t off = (off_t)((uintptr_t)addr / psize) * sizeof(ent);

	if (pread(pagemap, &ent, sizeof(ent), off) != sizeof(ent))
		return -1;
	return (ent >> 62) & 1;
}

static int read_plan(const char *path, struct group *g, long npages)
{
	char line[256];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f) {
		error("open plan %s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) && n < MAX_GROUPS) {
		if (sscanf(line, "%63s %ld %ld", g[n].name, &g[n].first, &g[n].count) != 3)
			continue; /* blank line */
		if (g[n].first < 0 || g[n].count < 0 || g[n].first + g[n].count > npages) {
			error("group %s: pages %ld+%ld outside the %ld pages", g[n].name,
			      g[n].first, g[n].count, npages);
			continue;
		}
		n++;
	}
	fclose(f);
	return n;
}

static unsigned char *read_file(const char *path, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		error("open %s: %s", path, strerror(errno));
		return NULL;
	}
	buf = malloc(st.st_size ? st.st_size : 1);
	while (buf && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, st.st_size - got);
		if (r <= 0) {
			error("read %s: %s", path, r ? strerror(errno) : "short file");
			free(buf);
			buf = NULL;
			break;
		}
		got += r;
	}
	close(fd);
	*len = got;
	return buf;
}

int main(int argc, char **argv)
{
	static struct group groups[MAX_GROUPS];
	unsigned char *data, *region;
	size_t len;
	long psize, npages;
	int ngroups, pagemap;
	char stage[96];

	if (getenv("ZSS_SETTLE_MS"))
		settle_ms = atol(getenv("ZSS_SETTLE_MS"));
	if (argc == 4 && !strcmp(argv[1], "--counters")) {
		prefix = argv[3];
		dump_counters(argv[2]);
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: %s PAGEFILE PAGESIZE PLANFILE PREFIX\n"
				"       %s --counters STAGE PREFIX\n", argv[0], argv[0]);
		return 2;
	}
	prefix = argv[4];
	setvbuf(stdout, NULL, _IOLBF, 0);
	psize = atol(argv[2]);
	if (psize != sysconf(_SC_PAGESIZE)) {
		/* Pages of another size would straddle or share kernel pages. */
		error("page size %ld is not the kernel's %ld", psize, sysconf(_SC_PAGESIZE));
		return 1;
	}
	data = read_file(argv[1], &len);
	if (!data)
		return 1;
	if (len % psize)
		error("page file is %zu bytes, not a whole number of pages", len);
	npages = len / psize;
	ngroups = read_plan(argv[3], groups, npages);
	if (ngroups < 0 || npages == 0)
		return 1;

	region = mmap(NULL, npages * psize, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (region == MAP_FAILED) {
		error("mmap %ld pages: %s", npages, strerror(errno));
		return 1;
	}
	/* One small page per entry: a huge page would be swapped (or split) as a unit. */
	if (madvise(region, npages * psize, MADV_NOHUGEPAGE))
		error("MADV_NOHUGEPAGE: %s", strerror(errno));
	memcpy(region, data, npages * psize);

	pagemap = open("/proc/self/pagemap", O_RDONLY);
	if (pagemap < 0)
		error("open pagemap: %s", strerror(errno));

	for (int i = 0; i < ngroups; i++) {
		struct group *g = &groups[i];
		unsigned char *start = region + g->first * psize;
		long swapped = 0;

		/* Reclaim exactly this group: each page goes through zswap_store(). */
		if (g->count && madvise(start, g->count * psize, MADV_PAGEOUT))
			error("MADV_PAGEOUT %s: %s", g->name, strerror(errno));
		for (long p = 0; pagemap >= 0 && p < g->count; p++) {
			int s = is_swapped(pagemap, start + p * psize, psize);
			if (s < 0)
				error("pagemap read for page %ld", g->first + p);
			swapped += s > 0;
		}
		printf("%s group %s %ld %ld swapped=%ld\n", prefix, g->name, g->first,
		       g->count, swapped);
		snprintf(stage, sizeof(stage), "after-%.63s", g->name);
		dump_counters(stage);
	}

	/* Read back in plan order: each first touch swaps the page in (zswap_load). */
	for (int i = 0; i < ngroups; i++) {
		struct group *g = &groups[i];
		long ok = 0, bad = 0;

		for (long p = g->first; p < g->first + g->count; p++) {
			if (memcmp(region + p * psize, data + p * psize, psize)) {
				bad++;
				printf("%s badpage %ld\n", prefix, p);
			} else {
				ok++;
			}
		}
		printf("%s verify %s ok=%ld bad=%ld\n", prefix, g->name, ok, bad);
	}
	dump_counters("after-readback");
	if (pagemap >= 0)
		close(pagemap);
	return 0;
}
