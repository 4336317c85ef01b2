/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's URL: an http:// URL split for a request, and parameters. */
#ifndef FCGI_DOCTOR_URL_H
#define FCGI_DOCTOR_URL_H

#include <stddef.h>

#include "../mustcheck.h"

/* Where to connect and what to ask for, from an http:// URL. */
struct doctor_url {
	char host[256];		/* name or address, IPv6 without [] */
	char port[6];		/* decimal, "80" when the URL has none */
	char authority[270];	/* host[:port] as written: the Host header */
	char target[4096];	/* path and query, as sent */
};

/*
 * Split url ("http://host[:port][/path][?query]") into u. https:// and
 * anything else is refused with a one-line reason in err (the doctor
 * speaks plain HTTP: run it on the server, against the local address).
 * Returns 0 or -1.
 */
int doctor_url_parse(const char *url, struct doctor_url *u, char *err,
    size_t errlen) MUSTCHECK;

/*
 * Append name=value to u's query, value percent-encoded (RFC 3986
 * unreserved characters kept). Returns 0, or -1 when it does not fit.
 */
int doctor_url_add_param(struct doctor_url *u, const char *name,
    const char *value, char *err, size_t errlen) MUSTCHECK;

#endif
