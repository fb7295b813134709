#include "CMallocStatistics.h"

#include <stdlib.h> /* defines __GLIBC__ on glibc */

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>

long long iam_db_proxy_heap_in_use_bytes(void) {
    struct mallinfo2 info = mallinfo2();
    return (long long)(info.uordblks + info.hblkhd);
}
#else
long long iam_db_proxy_heap_in_use_bytes(void) {
    return -1;
}
#endif
