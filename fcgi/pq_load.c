/* SPDX-License-Identifier: BSD-2-Clause */
/* libpq, loaded when SSE_DB names PostgreSQL: no SQLite process maps it. */
#include "pq_load.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "dynlib.h"
#include "log.h"

/*
 * Linking -lpq would map libpq and its dependencies (libssl, libcrypto,
 * gnutls, Kerberos, LDAP, ...) into every process, and their relocated
 * data and start-up allocations cost some 700 KiB private memory in each
 * one-stream process of an SQLite install (docs/performance.md). So the
 * program defines the libpq functions it calls, with libpq-fe.h's own
 * prototypes (the compiler checks they agree), and each forwards to the
 * library's, found with dlsym. outbox_pg.c and changes_pg.c call libpq
 * as usual.
 *
 * A function used by the program but missing below fails the link
 * (undefined reference): add its line, with the prototype as it is in
 * libpq-fe.h. X for functions that return a value, V for void ones.
 */
#define PQ_FUNCTIONS(X, V)						\
	V(PQclear, (PGresult *res), (res))				\
	X(char *, PQcmdTuples, (PGresult *res), (res))			\
	X(PostgresPollingStatusType, PQconnectPoll, (PGconn *conn),	\
	    (conn))							\
	X(PGconn *, PQconnectStartParams, (const char *const *keywords,	\
	    const char *const *values, int expand_dbname),		\
	    (keywords, values, expand_dbname))				\
	X(PGconn *, PQconnectdbParams, (const char *const *keywords,	\
	    const char *const *values, int expand_dbname),		\
	    (keywords, values, expand_dbname))				\
	V(PQconninfoFree, (PQconninfoOption *connOptions),		\
	    (connOptions))						\
	X(PQconninfoOption *, PQconninfoParse, (const char *conninfo,	\
	    char **errmsg), (conninfo, errmsg))				\
	X(int, PQconsumeInput, (PGconn *conn), (conn))			\
	X(char *, PQerrorMessage, (const PGconn *conn), (conn))		\
	X(PGresult *, PQexec, (PGconn *conn, const char *query),	\
	    (conn, query))						\
	X(PGresult *, PQexecParams, (PGconn *conn, const char *command,	\
	    int nParams, const Oid *paramTypes,				\
	    const char *const *paramValues, const int *paramLengths,	\
	    const int *paramFormats, int resultFormat),			\
	    (conn, command, nParams, paramTypes, paramValues,		\
	    paramLengths, paramFormats, resultFormat))			\
	X(PGresult *, PQexecPrepared, (PGconn *conn,			\
	    const char *stmtName, int nParams,				\
	    const char *const *paramValues, const int *paramLengths,	\
	    const int *paramFormats, int resultFormat),			\
	    (conn, stmtName, nParams, paramValues, paramLengths,	\
	    paramFormats, resultFormat))				\
	V(PQfinish, (PGconn *conn), (conn))				\
	X(int, PQflush, (PGconn *conn), (conn))				\
	V(PQfreemem, (void *ptr), (ptr))				\
	X(PGresult *, PQgetResult, (PGconn *conn), (conn))		\
	X(int, PQgetisnull, (const PGresult *res, int tup_num,		\
	    int field_num), (res, tup_num, field_num))			\
	X(int, PQgetlength, (const PGresult *res, int tup_num,		\
	    int field_num), (res, tup_num, field_num))			\
	X(char *, PQgetvalue, (const PGresult *res, int tup_num,	\
	    int field_num), (res, tup_num, field_num))			\
	X(int, PQisBusy, (PGconn *conn), (conn))			\
	X(int, PQnfields, (const PGresult *res), (res))			\
	X(PGnotify *, PQnotifies, (PGconn *conn), (conn))		\
	X(int, PQntuples, (const PGresult *res), (res))			\
	X(const char *, PQparameterStatus, (const PGconn *conn,		\
	    const char *paramName), (conn, paramName))			\
	X(PGresult *, PQprepare, (PGconn *conn, const char *stmtName,	\
	    const char *query, int nParams, const Oid *paramTypes),	\
	    (conn, stmtName, query, nParams, paramTypes))		\
	V(PQreset, (PGconn *conn), (conn))				\
	X(ExecStatusType, PQresultStatus, (const PGresult *res), (res))	\
	X(int, PQsendQuery, (PGconn *conn, const char *query),		\
	    (conn, query))						\
	X(PQnoticeProcessor, PQsetNoticeProcessor, (PGconn *conn,	\
	    PQnoticeProcessor proc, void *arg), (conn, proc, arg))	\
	X(int, PQsetnonblocking, (PGconn *conn, int arg), (conn, arg))	\
	X(int, PQsocket, (const PGconn *conn), (conn))			\
	X(ConnStatusType, PQstatus, (const PGconn *conn), (conn))

#define PQ_INDEX(ret, name, params, args) PQ_I_##name,
#define PQ_VINDEX(name, params, args) PQ_I_##name,
enum { PQ_FUNCTIONS(PQ_INDEX, PQ_VINDEX) PQ_COUNT };

#define PQ_NAME(ret, name, params, args) #name,
#define PQ_VNAME(name, params, args) #name,
static const char *const pq_names[PQ_COUNT] = {
	PQ_FUNCTIONS(PQ_NAME, PQ_VNAME)
};

static pthread_once_t pq_once = PTHREAD_ONCE_INIT;
static void *pq_syms[PQ_COUNT];		/* set once, by pq_load_once */
static int pq_failed;
static char pq_err[512];		/* why, when pq_failed */

static void
pq_load_once(void)
{
	pq_failed = dynlib_open("libpq.so.5", "libpq5", pq_names, pq_syms,
	    PQ_COUNT, pq_err, sizeof(pq_err)) == -1;
}

int
pq_load(char *err, size_t errlen)
{
	pthread_once(&pq_once, pq_load_once);
	if (pq_failed) {
		snprintf(err, errlen, "PostgreSQL: %s", pq_err);
		return -1;
	}
	return 0;
}

/* The library's function i; pq_load succeeded before any PQ* call. */
static void *
pq_sym(int i)
{
	char err[600];

	if (pq_load(err, sizeof(err)) == -1) {
		log_errorx("%s (a libpq call before pq_load)", err);
		abort();
	}
	return pq_syms[i];
}

/* POSIX guarantees that dlsym's void * converts to a function pointer. */
#define PQ_DEFINE(ret, name, params, args)				\
ret									\
name params								\
{									\
	ret (*fn) params = (ret (*) params)pq_sym(PQ_I_##name);		\
									\
	return fn args;							\
}
#define PQ_VDEFINE(name, params, args)					\
void									\
name params								\
{									\
	void (*fn) params = (void (*) params)pq_sym(PQ_I_##name);	\
									\
	fn args;							\
}
PQ_FUNCTIONS(PQ_DEFINE, PQ_VDEFINE)
