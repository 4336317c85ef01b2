/* PROVISIONAL (replaced by the server branch's resume.h at merge). */
#ifndef FCGI_RESUME_H
#define FCGI_RESUME_H
#include <stddef.h>
#define RESUME_RESET_LEN 160
int resume_check_pruned(long long last_id, long long pruned, char *data,
    size_t size);
#endif
