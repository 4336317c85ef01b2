/* SPDX-License-Identifier: BSD-2-Clause */
/* MUSTCHECK: a result the caller must look at (warn_unused_result). */
#ifndef FCGI_MUSTCHECK_H
#define FCGI_MUSTCHECK_H

#define MUSTCHECK __attribute__((warn_unused_result))

#endif
