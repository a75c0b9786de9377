/*
 * healthcheck: the classic /healthz database check as a small C program, for services that
 * have no health endpoint of their own. The Lifeboat agent runs it as a `command` check:
 * exit 0 means healthy.
 *
 *   healthcheck [-t SECONDS] [-w] CONNINFO
 *
 *   CONNINFO     a libpq connection string, e.g. "host=127.0.0.1 port=5432 dbname=app user=app"
 *                (the password comes from PGPASSWORD or ~/.pgpass, never the command line)
 *   -t SECONDS   connect timeout (default 2)
 *   -w           also require that the server accepts writes (not a standby, not read-only)
 *
 * Exit status: 0 healthy, 1 unhealthy (the reason on stderr), 2 usage error.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int usage(void) {
    fprintf(stderr, "usage: healthcheck [-t SECONDS] [-w] CONNINFO\n");
    return 2;
}

int main(int argc, char **argv) {
    int timeout = 2;
    int need_writable = 0;
    int opt;
    while ((opt = getopt(argc, argv, "t:w")) != -1) {
        switch (opt) {
        case 't':
            timeout = atoi(optarg);
            if (timeout < 1) return usage();
            break;
        case 'w':
            need_writable = 1;
            break;
        default:
            return usage();
        }
    }
    if (optind != argc - 1) return usage();

    char timeout_text[16];
    snprintf(timeout_text, sizeof timeout_text, "%d", timeout);
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *values[] = {argv[optind], timeout_text, "lifeboat-healthcheck", NULL};
    /* expand_dbname = 1: the first value is a whole connection string. */
    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "unhealthy: cannot connect: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return 1;
    }

    PGresult *res = PQexec(conn,
        "SELECT 1, pg_is_in_recovery(), current_setting('default_transaction_read_only') = 'on'");
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fprintf(stderr, "unhealthy: query failed: %s", PQerrorMessage(conn));
        PQclear(res);
        PQfinish(conn);
        return 1;
    }
    int in_recovery = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    int read_only = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
    PQclear(res);
    PQfinish(conn);

    if (need_writable && (in_recovery || read_only)) {
        fprintf(stderr, "unhealthy: the server does not accept writes (%s)\n", in_recovery ? "standby" : "read-only");
        return 1;
    }
    printf("healthy: %s\n", in_recovery ? "standby" : (read_only ? "primary, read-only" : "primary"));
    return 0;
}
