/* PROVISIONAL (replaced by the server branch's resume.c at merge). */
#include "resume.h"

#include "stream.h"

int
resume_check_pruned(long long last_id, long long pruned, char *data,
    size_t size)
{
	if (last_id >= pruned)
		return 0;
	stream_reset_data(data, size, "pruned", last_id, "pruned_through",
	    pruned);
	return 1;
}
