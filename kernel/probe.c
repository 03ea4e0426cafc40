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
 *   PREFIX totalram PAGES              the kernel's totalram_pages(), see below
 *   PREFIX worker NAME VALUE           shrink_worker_queued / shrink_worker_runs
 *   PREFIX error MESSAGE               then carry on where possible
 *
 * memcg statistics are per-CPU deltas folded in (rstat flush) only when
 * enough have piled up or by a periodic worker every 2 s, so memory.stat can
 * lag by a few pages.  Every counter dump first makes enough updates of its
 * own (memcg_force_flush) that the read flushes; with ZSS_SETTLE_MS=N in the
 * environment it also sleeps N ms, past that periodic worker.
 *
 * The pool shrink worker.  A store that fails while the pool is full queues
 * zswap's `shrink_worker` on a workqueue; it runs later, in a kworker.  To
 * make a run deterministic the probe lets every queued run finish before it
 * goes on: it records the workqueue trace events of that one work function
 * (workqueue_queue_work filtered to the "zswap-shrink" workqueue,
 * workqueue_execute_end filtered to the function shrink_worker), counts
 * them, and after each MADV_PAGEOUT call waits until as many runs have ended
 * as were queued.  A work item that is already pending is not queued again
 * (no event), so every queue event is followed by exactly one execute_end:
 * equal counts mean nothing is pending or running.  The wait looks at those
 * events only, never at the counters it is there to let settle.  Events are
 * consumed from trace_pipe; the totals so far are kept in WORKER_STATE so
 * the `--counters` invocation and the run add up.  A lost event (ring
 * buffer overrun or drop) is an error.  With ZSS_PER_FOLIO=1 every group is
 * paged out one page (one order-0 folio) per madvise call, each followed by
 * that wait, so no store ever overlaps a worker run.
 *
 * totalram_pages(): zswap's limit is totalram_pages() * max_pool_percent /
 * 100.  Every dump prints it from sysinfo(2) (totalram * mem_unit / page
 * size) and checks it against /proc/meminfo's MemTotal (kB) and the sum of
 * the zones' `managed` pages in /proc/zoneinfo, which is what the kernel's
 * total is made of; any difference is an error.
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
#include <sys/sysinfo.h>
#include <time.h>
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
static int per_folio;

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

/* ---- the shrink worker's trace events ---------------------------------- */

#define TRACEFS "/sys/kernel/tracing"
#define WQ_EVENTS TRACEFS "/events/workqueue"
#define WORKER_STATE "/tmp/zss-worker"
#define WORKER_WAIT_S 120

static int worker_fd = -1;          /* trace_pipe, non-blocking; -1: not watched */
static long worker_queued, worker_ended;
static char worker_line[1024];      /* a line cut by a read, kept for the next */
static size_t worker_have;

static int put_str(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int get_long(const char *path, long *val)
{
	FILE *f = fopen(path, "r");
	int ok;

	if (!f)
		return -1;
	ok = fscanf(f, "%ld", val) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

/* Switch the two events on (once per boot; later calls find them on). */
static int worker_trace_on(void)
{
	long on = 0;

	if (access(WQ_EVENTS "/workqueue_execute_end/enable", W_OK) ||
	    access(TRACEFS "/trace_pipe", R_OK)) /* not mounted, or no such events */
		return -1;
	if (get_long(WQ_EVENTS "/workqueue_execute_end/enable", &on) == 0 && on)
		return 0;
	/* Keep old events rather than overwrite them (a drop is counted and
	 * reported), never pause while read, and leave room for every event. */
	if (put_str(TRACEFS "/options/overwrite", "0") ||
	    (access(TRACEFS "/options/pause-on-trace", F_OK) == 0 &&
	     put_str(TRACEFS "/options/pause-on-trace", "0")) ||
	    put_str(TRACEFS "/buffer_size_kb", "2048") ||
	    put_str(WQ_EVENTS "/workqueue_queue_work/filter", "workqueue == \"zswap-shrink\"") ||
	    put_str(WQ_EVENTS "/workqueue_execute_end/filter", "function.function == shrink_worker") ||
	    put_str(WQ_EVENTS "/workqueue_queue_work/enable", "1") ||
	    put_str(WQ_EVENTS "/workqueue_execute_end/enable", "1") ||
	    put_str(TRACEFS "/tracing_on", "1"))
		return -1;
	return 0;
}

static void worker_count_line(const char *line)
{
	if (strstr(line, "workqueue_queue_work:") && strstr(line, "function=shrink_worker "))
		worker_queued++;
	else if (strstr(line, "workqueue_execute_end:") && strstr(line, "function shrink_worker"))
		worker_ended++;
}

/* Lost events would make the counts lie: any overrun or drop is an error. */
static int worker_events_lost(void)
{
	char path[320], line[128];
	struct dirent **ents;
	long lost = 0, v;
	int n = scandir(TRACEFS "/per_cpu", &ents, NULL, alphasort);

	for (int i = 0; i < n; i++) {
		FILE *f;

		snprintf(path, sizeof(path), TRACEFS "/per_cpu/%s/stats", ents[i]->d_name);
		f = ents[i]->d_name[0] == '.' ? NULL : fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "overrun: %ld", &v) == 1 ||
			    sscanf(line, "dropped events: %ld", &v) == 1)
				lost += v;
		if (f)
			fclose(f);
		free(ents[i]);
	}
	if (n >= 0)
		free(ents);
	return n < 0 ? -1 : lost > 0;
}

/* Consume what trace_pipe holds; 0, or -1 when the count cannot be trusted. */
static int worker_drain(void)
{
	char buf[8192];
	ssize_t r;

	while ((r = read(worker_fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] != '\n') {
				if (worker_have < sizeof(worker_line) - 1)
					worker_line[worker_have++] = buf[i];
				continue;
			}
			worker_line[worker_have] = 0;
			worker_count_line(worker_line);
			worker_have = 0;
		}
	}
	if (r < 0 && errno != EAGAIN && errno != EINTR) {
		error("read " TRACEFS "/trace_pipe: %s", strerror(errno));
		return -1;
	}
	if (worker_events_lost()) {
		error("shrink worker events were lost (trace buffer overrun or drop)");
		return -1;
	}
	return 0;
}

static void worker_save(void)
{
	char text[64];

	snprintf(text, sizeof(text), "%ld %ld\n", worker_queued, worker_ended);
	if (put_str(WORKER_STATE, text))
		error("write %s: %s", WORKER_STATE, strerror(errno));
}

static void worker_open(void)
{
	FILE *f = fopen(WORKER_STATE, "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &worker_queued, &worker_ended) != 2)
			error("%s: unreadable", WORKER_STATE);
		fclose(f);
	}
	if (worker_trace_on()) {
		if (per_folio)
			error("cannot trace the shrink worker (tracefs at " TRACEFS "): "
			      "its runs cannot be waited for");
		return;
	}
	worker_fd = open(TRACEFS "/trace_pipe", O_RDONLY | O_NONBLOCK);
	if (worker_fd < 0)
		error("open " TRACEFS "/trace_pipe: %s", strerror(errno));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Wait until every queued run of the shrink worker has ended: no work is
 * pending or running.  On one CPU the kworker runs whenever the probe
 * sleeps, so the usual wait is one short sleep.
 */
static void worker_wait_idle(void)
{
	double deadline = now_s() + WORKER_WAIT_S;

	if (worker_fd < 0)
		return;
	if (worker_drain() == 0) {
		while (worker_queued > worker_ended && now_s() < deadline) {
			usleep(1000);
			if (worker_drain())
				break;
		}
		if (worker_queued > worker_ended)
			error("the shrink worker is still pending or running after %d s "
			      "(queued %ld, ended %ld)", WORKER_WAIT_S, worker_queued, worker_ended);
	}
	worker_save();
}

/* ---- totalram_pages() ---------------------------------------------------- */

static long meminfo_total_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %ld kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

static long zoneinfo_managed(void)
{
	char line[256];
	long sum = 0, v;
	int seen = 0;
	FILE *f = fopen("/proc/zoneinfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, " managed %ld", &v) == 1) {
			sum += v;
			seen = 1;
		}
	if (f)
		fclose(f);
	return seen ? sum : -1;
}

static void dump_totalram(void)
{
	struct sysinfo si;
	long psize = sysconf(_SC_PAGESIZE);
	long pages, kb = meminfo_total_kb(), managed = zoneinfo_managed();

	if (sysinfo(&si)) {
		error("sysinfo: %s", strerror(errno));
		return;
	}
	pages = (long)((unsigned long long)si.totalram * si.mem_unit / psize);
	printf("%s totalram %ld\n", prefix, pages);
	if (kb < 0 || kb * 1024 / psize != pages)
		error("totalram: sysinfo says %ld pages, MemTotal %ld kB", pages, kb);
	if (managed >= 0 && managed != pages)
		error("totalram: sysinfo says %ld pages, the zones manage %ld", pages, managed);
}

/*
 * Make the next memory.stat read exact: a read folds in the per-CPU deltas
 * only when more than a batch (64 per CPU) of updates is pending, so fault
 * in and free a few hundred pages of our own (hundreds of updates to our
 * cgroup and its ancestors, none to zswap) and the read flushes.
 */
static void memcg_force_flush(void)
{
	long psize = sysconf(_SC_PAGESIZE);
	size_t len = 256 * psize;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);

	if (p == MAP_FAILED) {
		error("mmap for the memcg flush: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < len; i += psize)
		p[i] = 1;
	munmap(p, len);
}

static void dump_counters(const char *stage)
{
	const char *dir = "/sys/kernel/debug/zswap";
	struct dirent **ents;
	char path[768], cg[512];
	int n;

	if (settle_ms > 0)
		usleep(settle_ms * 1000);
	memcg_force_flush();
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
	dump_totalram();
	if (worker_fd >= 0) {
		printf("%s worker shrink_worker_queued %ld\n", prefix, worker_queued);
		printf("%s worker shrink_worker_runs %ld\n", prefix, worker_ended);
	}
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
	per_folio = getenv("ZSS_PER_FOLIO") && atoi(getenv("ZSS_PER_FOLIO"));
	if (argc == 4 && !strcmp(argv[1], "--counters")) {
		prefix = argv[3];
		worker_open();
		worker_wait_idle();
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
	worker_open();
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

		/* Reclaim exactly this group: each page goes through zswap_store().
		 * One folio per call if asked, letting the shrink worker finish
		 * after each; in any case after the group. */
		if (per_folio) {
			for (long p = 0; p < g->count; p++) {
				if (madvise(start + p * psize, psize, MADV_PAGEOUT))
					error("MADV_PAGEOUT %s page %ld: %s", g->name,
					      g->first + p, strerror(errno));
				worker_wait_idle();
			}
		} else if (g->count && madvise(start, g->count * psize, MADV_PAGEOUT)) {
			error("MADV_PAGEOUT %s: %s", g->name, strerror(errno));
		}
		worker_wait_idle();
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
	worker_wait_idle();
	dump_counters("after-readback");
	if (pagemap >= 0)
		close(pagemap);
	return 0;
}
