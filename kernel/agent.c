/*
 * agent.c - the guest's long-lived workload agent: it runs workload-script
 * steps (kernel/script.py), one command line at a time, sent by the host
 * over a serial port of its own, and answers each with zswap's counters.
 *
 * Built on the host with `gcc -static -O2` and exec'd by the guest's /init
 * (kernel/session.py) as root, in the root cgroup:
 *
 *   agent [TTY [CORPUSDIR]]     serve commands on TTY (default /dev/ttyS1)
 *   agent --gen KIND SEED SECTION INDEX CORPUSDIR [COUNT]   pages, to stdout
 *   agent --layout SIZE...      the run-length code of those folio sizes
 *
 * (The last two are for the host's tests.)  The agent prints `ready RELEASE
 * totalram=PAGES`, then answers each command (reset, mkcg, enter, cgset,
 * param, store, load, redirty, free, reclaim, wait, settle, flush, quit)
 * with these records and a line `end`:
 *
 *   counter NAME VALUE       each file of /sys/kernel/debug/zswap
 *   vmstat NAME VALUE        zswpin zswpout zswpwb pswpin pswpout
 *   memcg PATH NAME VALUE    memory.stat of / and each cgroup made since reset
 *   region NAME pages=N swapped=S resident=R bad=B layout=L
 *   worker queued=Q ended=E  the shrink worker's trace events since boot
 *   ret VALUE                0, or -errno of the command's own failed syscall
 *   error MESSAGE            anything else that went wrong
 *
 * Its own memory must not take part in what it measures: every buffer is
 * static (nothing is malloc'd after start: the heap would be charged to the
 * cgroup the agent is in by then), the stack is pre-faulted, and every
 * mapping present at start is mlock'ed, the corpus (mmap'ed from the
 * initramfs) included.  Regions, mapped later, are not locked.
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
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096L
#define MAX_REGIONS 64
#define MAX_CGROUPS 64
#define MAX_PAGES 8192          /* script.py's MAX_REGION_PAGES */
#define MAX_SECTIONS 256
#define MAX_THP 16
#define CG "/sys/fs/cgroup"
#define ZSWAP_PARAMS "/sys/module/zswap/parameters/"
#define THP_DIR "/sys/kernel/mm/transparent_hugepage"
#define DEBUG_ZSWAP "/sys/kernel/debug/zswap"

/* ---- output: a response is built here, then written at once ------------ */
/* fail(), then return `rv` (nothing, in a void function). */
#define FAIL(rv, ...) do { fail(__VA_ARGS__); return rv; } while (0)
/* fail() for a failed syscall of the command itself: ret is its -errno. */
#define SYS_FAIL(...) (ret_val = -errno, fail(__VA_ARGS__))

static char out[1 << 19], errs[1 << 14];
static size_t out_len, errs_len;
static long ret_val;

static void vappend(char *buf, size_t size, size_t *len, const char *fmt, va_list ap) {
	int n = vsnprintf(buf + *len, size - *len, fmt, ap);
	if (n > 0)
		*len = *len + n < size ? *len + n : size - 1;
}

static void __attribute__((format(printf, 1, 2))) emit(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vappend(out, sizeof(out), &out_len, fmt, ap);
	va_end(ap);
}

/* An `error` record, kept until the next response is sent. */
static void __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...) {
	va_list ap;
	size_t start = errs_len;
	if (errs_len + 8 >= sizeof(errs))
		return;
	memcpy(errs + errs_len, "error ", 6);
	errs_len += 6;
	va_start(ap, fmt);
	vappend(errs, sizeof(errs) - 1, &errs_len, fmt, ap);
	va_end(ap);
	for (size_t i = start; i < errs_len; i++)  /* one record, one line */
		if (errs[i] == '\n')
			errs[i] = ' ';
	errs[errs_len++] = '\n';
}

/* ---- file helpers (no stdio: FILE buffers would be malloc'd) ------------- */
static char fbuf[1 << 16];

static int put_str(const char *path, const char *text) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644), err = 0;
	ssize_t n;
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	err = n < 0 ? -errno : n != (ssize_t)strlen(text) ? -EIO : 0;
	close(fd);
	return err;
}

/* The file's text into fbuf, NUL-terminated: its length, or -errno. */
static long get_text(const char *path) {
	int fd = open(path, O_RDONLY);
	long len = 0;
	ssize_t r;
	fbuf[0] = 0;  /* a failed read leaves no stale text to parse */
	if (fd < 0)
		return -errno;
	while (len < (long)sizeof(fbuf) - 1 &&
	       (r = read(fd, fbuf + len, sizeof(fbuf) - 1 - len)) > 0)
		len += r;
	close(fd);
	fbuf[len] = 0;
	return len;
}

static double now_s(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#include "agent_pages.c"  /* page contents and layout codes: one translation unit */

/* ---- the shrink worker's trace events (as in probe.c) ---------------------- */
/*
 * zswap's pool shrink worker runs later, in a kworker.  The agent counts the
 * workqueue_queue_work events of the "zswap-shrink" queue and the
 * workqueue_execute_end events of shrink_worker, read from trace_pipe; a
 * pending work item is not queued again, so each queue event is followed by
 * one execute_end and equal counts mean nothing is pending or running.  A
 * lost event (overrun, drop) makes the counts lie: an error.
 */
#define TRACEFS "/sys/kernel/tracing"
#define WQ_EVENTS TRACEFS "/events/workqueue"
#define WORKER_WAIT_S 120

static int worker_fd = -1;
static long worker_queued, worker_ended, nstats;
static char worker_line[1024], stats_paths[8][64];
static size_t worker_have;

static int worker_trace_on(void) {
	if (access(WQ_EVENTS "/workqueue_execute_end/enable", W_OK) ||
	    access(TRACEFS "/trace_pipe", R_OK))
		return -1;
	/* Keep old events rather than overwrite them, never pause while read. */
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

static void worker_count_line(const char *line) {
	if (strstr(line, "workqueue_queue_work:") && strstr(line, "function=shrink_worker "))
		worker_queued++;
	else if (strstr(line, "workqueue_execute_end:") && strstr(line, "function shrink_worker"))
		worker_ended++;
}

static int worker_events_lost(void) {
	long lost = 0, v;
	for (int i = 0; i < nstats; i++)
		if (get_text(stats_paths[i]) >= 0)
			for (char *l = strtok(fbuf, "\n"); l; l = strtok(NULL, "\n"))
				if (sscanf(l, "overrun: %ld", &v) == 1 ||
				    sscanf(l, "dropped events: %ld", &v) == 1)
					lost += v;
	return lost > 0;
}

/* Consume what trace_pipe holds; 0, or -1 when the counts cannot be had. */
static int worker_drain(void) {
	char buf[8192];
	ssize_t r;
	if (worker_fd < 0)
		return -1;
	while ((r = read(worker_fd, buf, sizeof(buf))) > 0)
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
	if (r < 0 && errno != EAGAIN && errno != EINTR)
		FAIL(-1, "read " TRACEFS "/trace_pipe: %s", strerror(errno));
	return 0;
}

/* Wait until every queued run of the shrink worker has ended.  On one CPU
 * the kworker runs whenever the agent sleeps: usually one short sleep. */
static void worker_wait_idle(void) {
	double deadline = now_s() + WORKER_WAIT_S;
	if (worker_drain())
		return;
	while (worker_queued > worker_ended && now_s() < deadline) {
		usleep(1000);
		if (worker_drain())
			return;
	}
	if (worker_queued > worker_ended)
		fail("the shrink worker is still pending or running after %d s (queued %ld, "
		     "ended %ld)", WORKER_WAIT_S, worker_queued, worker_ended);
}

static void worker_open(void) {
	struct dirent *e;
	DIR *d;
	if (worker_trace_on())
		FAIL(, "cannot trace the shrink worker (tracefs at " TRACEFS "): its runs "
		     "cannot be waited for");
	if ((worker_fd = open(TRACEFS "/trace_pipe", O_RDONLY | O_NONBLOCK)) < 0)
		fail("open " TRACEFS "/trace_pipe: %s", strerror(errno));
	d = opendir(TRACEFS "/per_cpu");
	while (d && (e = readdir(d)) && nstats < 8)
		if (!strncmp(e->d_name, "cpu", 3))
			snprintf(stats_paths[nstats++], sizeof(stats_paths[0]),
				 TRACEFS "/per_cpu/%.20s/stats", e->d_name);
	if (d)
		closedir(d);
}

/* ---- regions ----------------------------------------------------------------- */
struct region {
	char name[24];
	unsigned char *addr;
	long pages, bad;
	struct content content;  /* what its pages hold since the last store or redirty */
	char layout[4096];       /* the folio sizes its first store found */
	int live;
};

static struct region regions[MAX_REGIONS];
static uint64_t pm[MAX_PAGES], kflags[MAX_PAGES];
static long sizes[MAX_PAGES];
static unsigned char page_buf[PAGE];
static int pagemap_fd = -1, kpageflags_fd = -1;

#define PM_PFN(e) ((e) & ((1ULL << 55) - 1))
#define PM_SWAPPED(e) (((e) >> 62) & 1)
#define PM_PRESENT(e) (((e) >> 63) & 1)
#define KPF_HEAD (1ULL << 15)
#define KPF_TAIL (1ULL << 16)

static struct region *region_find(const char *name) {
	for (int i = 0; i < MAX_REGIONS; i++)
		if (regions[i].live && !strcmp(regions[i].name, name))
			return &regions[i];
	return NULL;
}

/* The region's pagemap entries into pm[]; with `flags`, kpageflags into kflags[]. */
static int region_scan(const struct region *r, int flags) {
	off_t off = (off_t)((uintptr_t)r->addr / PAGE) * 8;
	size_t len = r->pages * 8;
	if (pread(pagemap_fd, pm, len, off) != (ssize_t)len)
		FAIL(-1, "read /proc/self/pagemap for region %s: %s", r->name, strerror(errno));
	for (long i = 0; flags && i < r->pages; i++) {
		kflags[i] = 0;
		if (PM_PRESENT(pm[i]) &&
		    pread(kpageflags_fd, &kflags[i], 8, PM_PFN(pm[i]) * 8) != 8)
			FAIL(-1, "read /proc/kpageflags: %s", strerror(errno));
	}
	return 0;
}

/* The pages, from resident page i, of the folio it starts: a compound page's
 * head (or a tail) and the tails after it at consecutive PFNs; else one. */
static long folio_extent(const struct region *r, long i) {
	long n = 1;
	if (!(kflags[i] & (KPF_HEAD | KPF_TAIL)))
		return 1;
	while (i + n < r->pages && PM_PRESENT(pm[i + n]) && (kflags[i + n] & KPF_TAIL) &&
	       PM_PFN(pm[i + n]) == PM_PFN(pm[i]) + n)
		n++;
	return n;
}

/*
 * Page out every resident folio of the region, one folio per MADV_PAGEOUT
 * call in address order, letting the shrink worker finish after each, so no
 * store overlaps a worker run.  With `layout`, record the folio sizes found.
 */
static void region_pageout(struct region *r, int layout) {
	long nfolios = 0, i, f;
	if (region_scan(r, 1))
		return;
	for (i = 0; i < r->pages;)
		if (!PM_PRESENT(pm[i]))
			i++;
		else
			i += sizes[nfolios++] = folio_extent(r, i);
	if (layout)
		layout_code(sizes, nfolios, r->layout, sizeof(r->layout));
	for (i = 0, f = 0; f < nfolios; i += sizes[f++]) {
		while (!PM_PRESENT(pm[i]))
			i++;
		if (madvise(r->addr + i * PAGE, sizes[f] * PAGE, MADV_PAGEOUT))
			SYS_FAIL("MADV_PAGEOUT region %s pages %ld+%ld: %s", r->name, i, sizes[f],
				 strerror(errno));
		worker_wait_idle();
	}
}

/* ---- transparent huge page sizes ----------------------------------------------- */
static long thp_kb[MAX_THP], nthp;

/* The sizes anonymous memory can have: a size whose `enabled` is read-only
 * (7.3 lists an order-1 hugepages-8kB that anonymous memory cannot use) is left out. */
static void thp_list(void) {
	DIR *d = opendir(THP_DIR);
	struct dirent *e;
	struct stat st;
	char path[128];
	while (d && (e = readdir(d)) && nthp < MAX_THP)
		if (sscanf(e->d_name, "hugepages-%ldkB", &thp_kb[nthp]) == 1) {
			snprintf(path, sizeof(path), THP_DIR "/%.40s/enabled", e->d_name);
			nthp += stat(path, &st) == 0 && (st.st_mode & S_IWUSR);
		}
	if (d)
		closedir(d);
	if (!nthp)
		fail("no mTHP sizes in " THP_DIR);
}

/* `always` for the one size of `kb` KiB (0: none), `never` for every other. */
static void thp_set(long kb) {
	int found = kb == 0, err;
	char path[128];
	for (int i = 0; i < nthp; i++) {
		snprintf(path, sizeof(path), THP_DIR "/hugepages-%ldkB/enabled", thp_kb[i]);
		if ((err = put_str(path, thp_kb[i] == kb ? "always" : "never")))
			fail("write %s: %s", path, strerror(-err));
		found |= thp_kb[i] == kb;
	}
	if (!found)
		fail("no mTHP size of %ld kB in " THP_DIR, kb);
}

/* ---- cgroups ------------------------------------------------------------------ */
static char cgroups[MAX_CGROUPS][80];   /* made since the last reset: "/a/b" */
static int ncgroups;

/* CG/PATH[/FILE]; PATH "/" is the root. */
static void cg_path(char *dst, size_t len, const char *cg, const char *file) {
	snprintf(dst, len, CG "%.80s%s%.40s", strcmp(cg, "/") ? cg : "", file ? "/" : "",
		 file ? file : "");
}

static void dump_memcg(const char *cg) {
	static const char *const names[] = {
		"zswap", "zswapped", "zswap_incomp", "zswpin", "zswpout", "zswpwb", NULL
	};
	char path[160], key[64];
	unsigned long long v;
	long len;
	cg_path(path, sizeof(path), cg, "memory.stat");
	if ((len = get_text(path)) < 0)
		FAIL(, "read %s: %s", path, strerror(-len));
	for (char *l = strtok(fbuf, "\n"); l; l = strtok(NULL, "\n"))
		if (sscanf(l, "%63s %llu", key, &v) == 2)
			for (int i = 0; names[i]; i++)
				if (!strcmp(key, names[i]))
					emit("memcg %s %s %llu\n", cg, key, v);
}

/* Write a control file; its failure is the command's ret and, unless it is
 * the `outcome` errno (an answer, not a fault), an error. */
static int write_ret(const char *path, const char *value, int outcome) {
	int err = put_str(path, value);
	if (err) {
		ret_val = err;
		if (err != -outcome)
			fail("write %s to %s: %s", value, path, strerror(-err));
	}
	return err;
}

static int enter(const char *cg) {
	char path[160], pid[24];
	cg_path(path, sizeof(path), cg, "cgroup.procs");
	snprintf(pid, sizeof(pid), "%d", getpid());
	return write_ret(path, pid, 0);
}

static void cmd_mkcg(const char *cg) {
	char parent[80], path[160];
	if (cg[0] != '/' || strlen(cg) >= sizeof(parent) || ncgroups == MAX_CGROUPS)
		FAIL(, "mkcg %s: not a cgroup path, or too many cgroups", cg);
	snprintf(parent, sizeof(parent), "%s", cg);
	*strrchr(parent, '/') = 0;
	/* The memory controller must be on in the parent before it has a child. */
	cg_path(path, sizeof(path), parent[0] ? parent : "/", "cgroup.subtree_control");
	if ((get_text(path) < 0 || !strstr(fbuf, "memory")) && write_ret(path, "+memory", 0))
		return;
	cg_path(path, sizeof(path), cg, NULL);
	if (mkdir(path, 0755)) {
		SYS_FAIL("mkdir %s: %s", path, strerror(errno));
		return;
	}
	snprintf(cgroups[ncgroups++], sizeof(cgroups[0]), "%s", cg);
}

static int depth(const char *cg) {
	int n = 0;
	while (*cg)
		n += *cg++ == '/';
	return n;
}

/* rmdir every cgroup made since the last reset, deepest first. */
static void rmdir_all(void) {
	char path[160];
	for (int d = 16; d > 0; d--)
		for (int i = 0; i < ncgroups; i++) {
			double deadline = now_s() + 5;

			if (depth(cgroups[i]) != d)
				continue;
			cg_path(path, sizeof(path), cgroups[i], NULL);
			/* A cgroup just left can stay busy a moment. */
			while (rmdir(path) && errno == EBUSY && now_s() < deadline)
				usleep(10000);
			if (access(path, F_OK) == 0)
				fail("rmdir %s: %s", path, strerror(errno));
		}
	ncgroups = 0;
}

/* ---- the dump after every command ------------------------------------------- */
static char zswap_files[32][64];
static int nzswap_files;

static void dump(void) {
	static const char *const vm[] = { "zswpin", "zswpout", "zswpwb", "pswpin", "pswpout", NULL };
	char path[160], key[64];
	unsigned long long v;
	for (int i = 0; i < nzswap_files; i++) {
		snprintf(path, sizeof(path), DEBUG_ZSWAP "/%s", zswap_files[i]);
		if (get_text(path) < 0 || sscanf(fbuf, "%llu", &v) != 1)
			fail("read %s", path);
		else
			emit("counter %s %llu\n", zswap_files[i], v);
	}
	if (get_text("/proc/vmstat") < 0)
		fail("read /proc/vmstat: %s", strerror(errno));
	for (char *l = strtok(fbuf, "\n"); l; l = strtok(NULL, "\n"))
		if (sscanf(l, "%63s %llu", key, &v) == 2)
			for (int i = 0; vm[i]; i++)
				if (!strcmp(key, vm[i]))
					emit("vmstat %s %llu\n", key, v);
	dump_memcg("/");
	for (int i = 0; i < ncgroups; i++)
		dump_memcg(cgroups[i]);
	for (int i = 0; i < MAX_REGIONS; i++) {
		struct region *r = &regions[i];
		long swapped = 0, resident = 0;

		if (!r->live || region_scan(r, 0))
			continue;
		for (long p = 0; p < r->pages; p++)
			swapped += PM_SWAPPED(pm[p]), resident += PM_PRESENT(pm[p]);
		emit("region %s pages=%ld swapped=%ld resident=%ld bad=%ld layout=%s\n", r->name,
		     r->pages, swapped, resident, r->bad, r->layout);
	}
	if (worker_drain() == 0 && worker_events_lost())
		fail("shrink worker events were lost (trace buffer overrun or drop)");
	emit("worker queued=%ld ended=%ld\n", worker_queued, worker_ended);
	emit("ret %ld\n", ret_val);
}

/* ---- commands ------------------------------------------------------------------ */
/*
 * Make the next read of memory.stat fold in every pending memcg statistic.
 * A read flushes only when more than a batch (64 per CPU) of updates is
 * pending, else the periodic flush does, within 2 s, so a reset's dump could
 * show a freed pool still charged.  A few hundred pages faulted in and freed
 * in the root cgroup are that many updates, and touch nothing of zswap.
 */
static void memcg_force_flush(void) {
	size_t len = 256 * PAGE;
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				-1, 0);
	if (p == MAP_FAILED)
		FAIL(, "mmap for the memcg flush: %s", strerror(errno));
	for (size_t i = 0; i < len; i += PAGE)
		p[i] = 1;
	munmap(p, len);
}

static void cmd_reset(const char *compressor) {
	/* A script's starting state: the kernel's default pool limits, no shrinker. */
	static const char *const params[][2] = {
		{ ZSWAP_PARAMS "max_pool_percent", "20" },
		{ ZSWAP_PARAMS "accept_threshold_percent", "90" },
		{ ZSWAP_PARAMS "shrinker_enabled", "N" },
		{ ZSWAP_PARAMS "enabled", "Y" },
	};

	for (int i = 0; i < MAX_REGIONS; i++)
		if (regions[i].live && munmap(regions[i].addr, regions[i].pages * PAGE))
			fail("munmap region %s: %s", regions[i].name, strerror(errno));
	memset(regions, 0, sizeof(regions));
	enter("/");
	rmdir_all();
	write_ret(ZSWAP_PARAMS "compressor", compressor, 0);
	for (int i = 0; i < 4; i++)
		write_ret(params[i][0], params[i][1], 0);
	thp_set(0);
	worker_wait_idle();
	memcg_force_flush();
}

/* store NAME PAGES FOLIO_PAGES KIND SEED SECTION: a new region, paged out. */
static void cmd_store_new(char **arg) {
	struct region *r = NULL;
	char *end;
	long pages = strtol(arg[1], &end, 10), fp = atol(arg[2]);
	size_t len = pages * PAGE, align = fp * PAGE, maplen = len + align - PAGE;
	unsigned char *map, *addr;
	for (int i = 0; i < MAX_REGIONS && !r; i++)
		if (!regions[i].live)
			r = &regions[i];
	if (region_find(arg[0]) || !r || strlen(arg[0]) >= sizeof(r->name) || *end ||
	    pages < 1 || pages > MAX_PAGES || fp < 1 || fp > 512 || pages % fp)
		FAIL(, "store %s %s %s: the region exists, a bad name, size or folio size, "
		     "or too many regions", arg[0], arg[1], arg[2]);
	memset(r, 0, sizeof(*r));
	if (content_parse(arg[3], arg[4], arg[5], &r->content))
		return;
	/* Over-allocate, then trim both ends: folios naturally aligned. */
	map = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED) {
		SYS_FAIL("mmap %ld pages: %s", pages, strerror(errno));
		return;
	}
	addr = (unsigned char *)(((uintptr_t)map + align - 1) & ~(uintptr_t)(align - 1));
	if (addr > map)
		munmap(map, addr - map);
	if (addr + len < map + maplen)
		munmap(addr + len, map + maplen - (addr + len));
	snprintf(r->name, sizeof(r->name), "%s", arg[0]);
	r->addr = addr, r->pages = pages, r->live = 1;
	/* Only this folio size allowed; a folio's first touch is a write: whole. */
	thp_set(fp == 1 ? 0 : fp * PAGE / 1024);
	for (long i = 0; i < pages; i++) {
		gen_page(&r->content, i, page_buf);
		memcpy(addr + i * PAGE, page_buf, PAGE);
	}
	thp_set(0);
	region_pageout(r, 1);
}

/* Read every page back (load) or write new contents over it (redirty). */
static void cmd_rw(struct region *r, char **content) {
	struct content c;
	if (content && content_parse(content[0], content[1], content[2], &c))
		return;
	if (content)
		r->content = c;
	else
		r->bad = 0;
	for (long i = 0; i < r->pages; i++) {
		gen_page(&r->content, i, page_buf);
		if (content)
			memcpy(r->addr + i * PAGE, page_buf, PAGE);
		else
			r->bad += memcmp(r->addr + i * PAGE, page_buf, PAGE) != 0;
	}
}

static int quitting;

static void run(char *line) {
	char *arg[12], path[192];
	struct region *r = NULL;
	int n = 0;
	for (char *t = strtok(line, " \t\r"); t && n < 12; t = strtok(NULL, " \t\r"))
		arg[n++] = t;
	if (!n)
		FAIL(, "empty command");
#define IS(word, count) (!strcmp(arg[0], word) && n == (count))
	if ((IS("load", 2) || IS("redirty", 5) || IS("free", 2) || IS("store", 2)) &&
	    !(r = region_find(arg[1])))
		fail("%s %s: no such region", arg[0], arg[1]);
	else if (IS("reset", 2))
		cmd_reset(arg[1]);
	else if (IS("mkcg", 2))
		cmd_mkcg(arg[1]);
	else if (IS("enter", 2))
		enter(arg[1]);
	else if (IS("cgset", 4) && strcmp(arg[1], "/") && !strchr(arg[2], '/')) {
		cg_path(path, sizeof(path), arg[1], arg[2]);
		write_ret(path, arg[3], 0);
	} else if (IS("param", 3) && !strchr(arg[1], '/')) {
		snprintf(path, sizeof(path), ZSWAP_PARAMS "%.64s", arg[1]);
		write_ret(path, arg[2], 0);
	} else if (IS("store", 7))
		cmd_store_new(arg + 1);
	else if (IS("store", 2))
		region_pageout(r, 0);
	else if (IS("load", 2))
		cmd_rw(r, NULL);
	else if (IS("redirty", 5))
		cmd_rw(r, arg + 2);
	else if (IS("free", 2)) {
		r->live = 0;
		if (munmap(r->addr, r->pages * PAGE))
			SYS_FAIL("munmap region %s: %s", r->name, strerror(errno));
	}
	else if (IS("reclaim", 3)) {
		/* Reclaiming less than asked (EAGAIN) is an outcome: only ret says so. */
		cg_path(path, sizeof(path), arg[1], "memory.reclaim");
		write_ret(path, arg[2], EAGAIN);
	} else if (IS("wait", 1))
		worker_wait_idle();
	else if (IS("settle", 1))
		usleep(2100 * 1000);  /* the memcg statistics' periodic flush runs every 2 s */
	else if (IS("flush", 1))
		memcg_force_flush();  /* memory.stat exact now, without settle's wait */
	else if (IS("quit", 1))
		quitting = 1;
	else
		fail("unknown command or wrong number of words: %s (%d words)", arg[0], n);
#undef IS
}

/* ---- start-up and the serial line ---------------------------------------------- */
/* Fault in a generous stack now, while the agent is in the root cgroup. */
static void __attribute__((noinline)) stack_prefault(void) {
	volatile char big[512 * 1024];

	for (size_t i = 0; i < sizeof(big); i += PAGE)
		big[i] = 0;
}

/* mlock every mapping the agent has at start (not the regions, mapped later). */
static void lock_self(void) {
	unsigned long lo, hi;
	if (get_text("/proc/self/maps") < 0)
		fail("read /proc/self/maps: %s", strerror(errno));
	for (char *l = strtok(fbuf, "\n"); l; l = strtok(NULL, "\n"))
		if (!strstr(l, "[vsyscall]") && !strstr(l, "[vvar") && !strstr(l, "[vdso]") &&
		    sscanf(l, "%lx-%lx", &lo, &hi) == 2 && mlock((void *)lo, hi - lo))
			fail("mlock %lx-%lx: %s", lo, hi, strerror(errno));
}

static void setup(const char *corpus_dir) {
	struct dirent *e;
	DIR *d;
	stack_prefault();
	memset(out, 0, sizeof(out));  /* touch the static buffers: resident before locking */
	memset(errs, 0, sizeof(errs));
	corpus_load(corpus_dir);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	kpageflags_fd = open("/proc/kpageflags", O_RDONLY);
	if (pagemap_fd < 0 || kpageflags_fd < 0)
		fail("open /proc/self/pagemap or /proc/kpageflags: %s", strerror(errno));
	if (!(d = opendir(DEBUG_ZSWAP)))
		fail("open " DEBUG_ZSWAP ": %s", strerror(errno));
	while (d && (e = readdir(d)) && nzswap_files < 32)
		if (e->d_name[0] != '.')
			snprintf(zswap_files[nzswap_files++], sizeof(zswap_files[0]), "%.63s",
				 e->d_name);
	if (d)
		closedir(d);
	/* Sorted, so two dumps read alike. */
	qsort(zswap_files, nzswap_files, sizeof(zswap_files[0]),
	      (int (*)(const void *, const void *))strcmp);
	thp_list();
	thp_set(0);
	worker_open();
	lock_self();
}

static void send_all(int fd, const char *buf, size_t len) {
	for (ssize_t w; len; buf += w, len -= w)
		if ((w = write(fd, buf, len)) <= 0) {
			if (w < 0 && errno == EINTR)
				w = 0;
			else
				return;
		}
}

static int serve(const char *tty) {
	static char line[4096];
	size_t have = 0;
	struct termios t;
	struct utsname u;
	struct sysinfo si;
	int fd = open(tty, O_RDWR | O_NOCTTY);
	char *nl;
	if (fd < 0 || tcgetattr(fd, &t)) {
		fprintf(stderr, "agent: open %s: %s\n", tty, strerror(errno));
		return 1;
	}
	cfmakeraw(&t);  /* bytes as sent: no echo, no line editing, no CR/LF mapping */
	t.c_cc[VMIN] = 1, t.c_cc[VTIME] = 0;
	cfsetspeed(&t, B115200);
	if (tcsetattr(fd, TCSANOW, &t))
		fprintf(stderr, "agent: tcsetattr %s: %s\n", tty, strerror(errno));
	tcflush(fd, TCIOFLUSH);
	uname(&u);
	sysinfo(&si);
	out_len = snprintf(out, sizeof(out), "ready %s totalram=%llu\n", u.release,
			   (unsigned long long)si.totalram * si.mem_unit / PAGE);
	send_all(fd, out, out_len);
	for (;;) {
		ssize_t r = read(fd, line + have, sizeof(line) - 1 - have);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 1;
		have += r;
		while ((nl = memchr(line, '\n', have))) {
			*nl = 0;
			out_len = 0, ret_val = 0;
			run(line);
			dump();
			if (out_len + errs_len + 8 > sizeof(out))  /* cannot happen in practice */
				out_len = sizeof(out) - 8 - errs_len;
			memcpy(out + out_len, errs, errs_len);
			out_len += errs_len, errs_len = 0;
			memcpy(out + out_len, "end\n", 4);
			send_all(fd, out, out_len + 4);
			have -= nl + 1 - line;
			memmove(line, nl + 1, have);
			if (quitting) {
				tcdrain(fd);
				sync();
				/* A kernel without ACPI (a minimal build) halts when
				 * asked to power off; a reboot ends qemu (-no-reboot). */
				if (access("/sys/firmware/acpi", F_OK) == 0)
					reboot(RB_POWER_OFF);
				reboot(RB_AUTOBOOT);
				return 0;
			}
		}
		if (have == sizeof(line) - 1)
			have = 0;  /* a line too long to be a command: drop it */
	}
}

int main(int argc, char **argv) {
	if (argc >= 7 && !strcmp(argv[1], "--gen")) {
		struct content c;
		long index = atol(argv[5]), count = argc > 7 ? atol(argv[7]) : 1;

		if (corpus_load(argv[6]) || content_parse(argv[2], argv[3], argv[4], &c)) {
			fwrite(errs, 1, errs_len, stderr);
			return 1;
		}
		for (long i = 0; i < count; i++) {
			gen_page(&c, index + i, page_buf);
			fwrite(page_buf, 1, PAGE, stdout);
		}
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--layout")) {
		for (int i = 2; i < argc && i - 2 < MAX_PAGES; i++)
			sizes[i - 2] = atol(argv[i]);
		layout_code(sizes, argc - 2, regions[0].layout, sizeof(regions[0].layout));
		printf("%s\n", regions[0].layout);
		return 0;
	}
	setup(argc > 2 ? argv[2] : "");
	return serve(argc > 1 ? argv[1] : "/dev/ttyS1");
}
