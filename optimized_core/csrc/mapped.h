/* Read-only mappings of an input file's chunk, for replay (replay/source.py).

   A file mapped for reading raises SIGBUS where it is read past its end, which a
   file cut short while it is replayed would do, killing the run with what it had
   found.  Each mapping here is registered with a SIGBUS handler that maps a page
   of zeros where such a read faults and marks the mapping: the read then goes on,
   and the caller asks `zm_changed` after the chunk (or `zm_repaired` after a pass)
   and ends the run with an error naming the file.  A fault anywhere else goes to
   the handler that was there before. */
#ifndef ZSWAP_SPEC_MAPPED_H
#define ZSWAP_SPEC_MAPPED_H

#include <stddef.h>

typedef struct zm_map zm_map;

/* `length` bytes of the open file `fd` from `offset` (any offset), mapped and read
   in; NULL with errno set on failure (errno EMFILE: too many mappings at once). */
zm_map *zm_open(int fd, long long offset, size_t length);
const unsigned char *zm_data(const zm_map *m);
size_t zm_length(const zm_map *m);
/* Whether a read of the mapping found the file shorter than it was (zeros read). */
int zm_changed(const zm_map *m);
/* How many reads of any mapping found its file shorter (zeros read), since the start. */
long zm_repaired(void);
void zm_close(zm_map *m);

#endif
