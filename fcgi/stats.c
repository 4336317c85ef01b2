/* SPDX-License-Identifier: BSD-2-Clause */
/* The stats endpoint's text: Prometheus exposition format, pure. */
#include "stats.h"

#include <stdio.h>

const int stats_statuses[STATS_STATUSES] = { 400, 401, 405, 414, 429, 503,
	0 };

int
stats_status_index(int status)
{
	for (int i = 0; i < STATS_STATUSES - 1; i++)
		if (stats_statuses[i] == status)
			return i;
	return STATS_STATUSES - 1;
}

static void
stats_metric(struct buf *b, const char *name, const char *type,
    const char *help, long pid, unsigned long long v)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n"
	    "%s{pid=\"%ld\"} %llu\n", name, help, name, type, name, pid, v);

	if (n > 0)
		(void)buf_append(b, line, (size_t)n);
}

int
stats_format(struct buf *b, const struct hub_stats *st,
    const unsigned long refused[STATS_STATUSES], long pid)
{
	char line[128];

	stats_metric(b, "sse_outbox_open_streams", "gauge",
	    "Streams open in this process.", pid,
	    (unsigned long long)(st->open_streams > 0 ? st->open_streams : 0));
	stats_metric(b, "sse_outbox_streams_total", "counter",
	    "Streams opened.", pid, st->streams_total);
	stats_metric(b, "sse_outbox_events_total", "counter",
	    "Outbox rows sent to streams.", pid, st->events);
	stats_metric(b, "sse_outbox_bytes_total", "counter",
	    "Bytes written to streams, framing included.", pid, st->bytes);
	stats_metric(b, "sse_outbox_heartbeats_total", "counter",
	    "Heartbeat comments sent.", pid, st->heartbeats);
	stats_metric(b, "sse_outbox_watcher_wakeups_total", "counter",
	    "Change notifications from the database files.", pid,
	    st->wakeups);
	stats_metric(b, "sse_outbox_watcher_reads_total", "counter",
	    "Reads of new outbox rows by the watcher.", pid, st->reads);
	stats_metric(b, "sse_outbox_newest_id", "gauge",
	    "Highest outbox id the watcher has read.", pid,
	    (unsigned long long)(st->newest_id > 0 ? st->newest_id : 0));
	(void)buf_append_str(b, "# HELP sse_outbox_refused_total Requests "
	    "answered with an error status.\n"
	    "# TYPE sse_outbox_refused_total counter\n");
	for (int i = 0; i < STATS_STATUSES; i++) {
		int n = stats_statuses[i] ?
		    snprintf(line, sizeof(line), "sse_outbox_refused_total"
		    "{pid=\"%ld\",status=\"%d\"} %lu\n", pid, stats_statuses[i],
		    refused[i]) :
		    snprintf(line, sizeof(line), "sse_outbox_refused_total"
		    "{pid=\"%ld\",status=\"other\"} %lu\n", pid, refused[i]);

		if (n > 0)
			(void)buf_append(b, line, (size_t)n);
	}
	return b->failed ? -1 : 0;
}
