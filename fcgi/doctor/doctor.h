/* SPDX-License-Identifier: BSD-2-Clause */
/* `sse-outbox doctor`: do events reach a browser as they are written? */
#ifndef FCGI_DOCTOR_DOCTOR_H
#define FCGI_DOCTOR_DOCTOR_H

/*
 * sse-outbox doctor URL [options] (argv without "doctor"): asks URL for
 * a probe stream, prints what arrived when, and the fix for the server.
 * Returns the exit status: 0 streaming, 1 held or compressed, 2 error.
 */
int doctor_main(int argc, char **argv);

#endif
