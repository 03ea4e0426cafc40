/* See mapped.h. */
#define _GNU_SOURCE
#include "mapped.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ZM_SLOTS 256 /* mappings alive at once in the process: replay holds a few per pass */

struct zm_map {
    void *base;              /* the mapping, from the page-aligned offset */
    size_t span;             /* its length */
    const unsigned char *data;
    size_t length;
    int slot;
};

/* The ranges the handler may repair; a slot is free while `end` is 0.  Written
   under `lock` (callers on any thread), read by the handler without it. */
static struct {
    volatile uintptr_t start, end;
    volatile int changed;
} slots[ZM_SLOTS];
static volatile int lock;
static struct sigaction before;  /* the handler that was there when ours went in */
static volatile int installed;
static volatile int passed_on;   /* a SIGBUS not ours was handed to `before` once */
static volatile long repaired;   /* reads past a file's end turned into zeros, ever */

static void take(void) { while (__atomic_test_and_set(&lock, __ATOMIC_ACQUIRE)) sched_yield(); }
static void give(void) { __atomic_clear(&lock, __ATOMIC_RELEASE); }

static void on_sigbus(int sig, siginfo_t *info, void *uctx)
{
    int saved = errno;
    long page = sysconf(_SC_PAGESIZE);
    struct sigaction dfl;
    (void)uctx;
    if (info && info->si_code > 0) { /* a fault (SI_USER, SI_TKILL: a signal sent) */
        uintptr_t at = (uintptr_t)info->si_addr;
        for (int i = 0; i < ZM_SLOTS; i++) {
            uintptr_t end = __atomic_load_n(&slots[i].end, __ATOMIC_ACQUIRE);
            uintptr_t start = slots[i].start;
            if (end && start <= at && at < end) {
                void *p = (void *)(at & ~(uintptr_t)(page - 1));
                /* A page of zeros where the file's page was: the read is done again. */
                if (mmap(p, (size_t)page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                         -1, 0) != MAP_FAILED) {
                    slots[i].changed = 1;
                    __atomic_add_fetch(&repaired, 1, __ATOMIC_RELAXED);
                    errno = saved;
                    return;
                }
                break;
            }
        }
    }
    /* Not ours.  The handler that was there before takes it, once (a fault is raised
       again as the read is done again); should the signal come back to us after that
       (a handler that hands it on to its own predecessor, which is us: faulthandler
       enabled after us), the default action: the process ends of it, as it would have
       without us, rather than the signal going round the two handlers for ever. */
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    if (!passed_on && ((before.sa_flags & SA_SIGINFO) ? before.sa_sigaction != NULL
                       : (before.sa_handler != SIG_DFL && before.sa_handler != SIG_IGN))) {
        passed_on = 1;
        sigaction(sig, &before, NULL);
    } else {
        sigaction(sig, &dfl, NULL);
    }
    if (!info || info->si_code <= 0)
        raise(sig);  /* a signal sent, not a fault: nothing raises it again but this */
    errno = saved;
}

/* Our handler in place: installed once, and again if another took its place since
   (faulthandler, say), whose handler then takes the faults that are not ours. */
static int ensure_handler(void)
{
    struct sigaction now, ours;
    if (sigaction(SIGBUS, NULL, &now) != 0)
        return -1;
    if (installed && (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_sigbus)
        return 0;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = on_sigbus;
    ours.sa_flags = SA_SIGINFO;
    sigemptyset(&ours.sa_mask);
    if (sigaction(SIGBUS, &ours, &before) != 0)
        return -1;
    installed = 1;
    return 0;
}

zm_map *zm_open(int fd, long long offset, size_t length)
{
    long page = sysconf(_SC_PAGESIZE);
    long long from = offset - offset % page;
    size_t lead = (size_t)(offset - from);
    zm_map *m;
    int slot = -1;

    if (length == 0 || offset < 0) {
        errno = EINVAL;
        return NULL;
    }
    m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    take();
    if (ensure_handler() != 0) {
        give();
        free(m);
        return NULL;
    }
    for (int i = 0; i < ZM_SLOTS; i++)
        if (!slots[i].end) {
            slot = i;
            break;
        }
    if (slot < 0) {
        give();
        free(m);
        errno = EMFILE;
        return NULL;
    }
    m->span = lead + length;
    m->base = mmap(NULL, m->span, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, (off_t)from);
    if (m->base == MAP_FAILED) {
        int e = errno;
        give();
        free(m);
        errno = e;
        return NULL;
    }
    m->data = (const unsigned char *)m->base + lead;
    m->length = length;
    m->slot = slot;
    slots[slot].changed = 0;
    slots[slot].start = (uintptr_t)m->base;
    __atomic_store_n(&slots[slot].end, (uintptr_t)m->base + m->span, __ATOMIC_RELEASE);
    give();
    return m;
}

const unsigned char *zm_data(const zm_map *m) { return m->data; }
size_t zm_length(const zm_map *m) { return m->length; }
int zm_changed(const zm_map *m) { return slots[m->slot].changed; }
long zm_repaired(void) { return __atomic_load_n(&repaired, __ATOMIC_RELAXED); }

void zm_close(zm_map *m)
{
    if (!m)
        return;
    take();
    __atomic_store_n(&slots[m->slot].end, 0, __ATOMIC_RELEASE);
    munmap(m->base, m->span);
    give();
    free(m);
}
