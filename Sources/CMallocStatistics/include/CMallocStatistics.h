#ifndef C_MALLOC_STATISTICS_H
#define C_MALLOC_STATISTICS_H

#include <stddef.h>

/// Bytes malloc has handed out and not had back (glibc's mallinfo2: in-use small blocks plus
/// mmapped ones); -1 where the C library does not tell. Swift's Glibc module leaves
/// mallinfo2 out, hence this shim.
long long iam_db_proxy_heap_in_use_bytes(void);

#endif
