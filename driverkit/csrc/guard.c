/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * guard.c - the conformance kit's fault reporter, loaded into the process
 * that runs a driver.  When the driver touches a guard page (SIGSEGV,
 * SIGBUS) or dies on another fatal signal, the handler writes one record to
 * the kit's pipe: 'F', a 4-byte little-endian payload length (16), then the
 * signal number, the faulting address, the signal's si_code and the bytes
 * of data the process had mapped (from /proc/self/statm) as four 8-byte
 * little-endian integers (payload 32 bytes); it then lets the signal kill the
 * process as it would have.  The kit reads the address to tell an overrun
 * into a guard page from any other crash (the address means something only
 * for a fault, si_code > 0, of SIGSEGV, SIGBUS, SIGILL or SIGFPE), and the
 * data size to tell a driver that ran out of its memory limit.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int report_fd = -1;
static uint64_t page_size = 4096;
static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

static void put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* The sixth field of /proc/self/statm (data + stack, in pages), in bytes; 0 if unknown.
 * Only async-signal-safe calls. */
static uint64_t data_bytes(void)
{
	char buf[256];
	ssize_t n, i;
	int fd, field = 0;
	uint64_t v = 0;

	fd = open("/proc/self/statm", O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	for (i = 0; i < n; i++) {
		if (buf[i] == ' ') {
			if (++field == 6)
				break;
			v = 0;
		} else if (buf[i] >= '0' && buf[i] <= '9') {
			v = v * 10 + (uint64_t)(buf[i] - '0');
		}
	}
	return field == 6 ? v * page_size : 0;
}

static void on_fatal(int sig, siginfo_t *info, void *ctx)
{
	unsigned char rec[5 + 32];
	ssize_t unused;

	(void)ctx;
	rec[0] = 'F';
	rec[1] = 32;
	rec[2] = rec[3] = rec[4] = 0;
	put64(rec + 5, (uint64_t)sig);
	put64(rec + 13, (uint64_t)(uintptr_t)info->si_addr);
	put64(rec + 21, (uint64_t)(int64_t)info->si_code);
	put64(rec + 29, data_bytes());
	if (report_fd >= 0)
		unused = write(report_fd, rec, sizeof(rec));
	(void)unused;
	report_fd = -1; /* one record, even if several threads fault */
	signal(sig, SIG_DFL);
	raise(sig);
}

__attribute__((visibility("default")))
int zdk_guard_install(int fd)
{
	static unsigned char altstack[1 << 16];
	struct sigaction sa;
	stack_t ss;
	size_t i;

	report_fd = fd;
	page_size = (uint64_t)sysconf(_SC_PAGESIZE);
	ss.ss_sp = altstack;
	ss.ss_size = sizeof(altstack);
	ss.ss_flags = 0;
	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fatal;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++)
		if (sigaction(fatal_signals[i], &sa, NULL) != 0)
			return -1;
	return 0;
}
