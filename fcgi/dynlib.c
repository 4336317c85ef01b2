/* SPDX-License-Identifier: BSD-2-Clause */
/* A shared library opened at run time, its functions resolved by name. */
#include "dynlib.h"

#include <dlfcn.h>
#include <stdio.h>

int
dynlib_open(const char *soname, const char *package,
    const char *const *names, void **syms, size_t n, char *err,
    size_t errlen)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	const char *why;

	if (!h) {
		why = dlerror();
		snprintf(err, errlen, "cannot load %s (install the package "
		    "%s): %s", soname, package, why ? why : "unknown error");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		syms[i] = dlsym(h, names[i]);
		if (!syms[i]) {
			snprintf(err, errlen, "%s has no %s (package %s too "
			    "old?)", soname, names[i], package);
			dlclose(h);
			return -1;
		}
	}
	return 0;
}
