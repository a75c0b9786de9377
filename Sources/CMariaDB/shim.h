// Debian's MariaDB Connector/C (libmariadb-dev): the client API the agent's mysql check uses.
#include <mysql.h>
