// libpq, the reference PostgreSQL client library, for tests that connect as real apps do.
#include <postgresql/libpq-fe.h>
