# SPDX-License-Identifier: BSD-2-Clause
"""Commit-to-receipt latency through each server. Printed, never
asserted: timing depends on the machine. What is asserted is that every
row arrives once, in order."""

import json

import harness

ROWS = 50
INTERVAL = 0.02


def test_commit_to_receipt_latency(server):
    user = "judy"
    c = server.open(user)
    try:
        assert c.status == 200
        c.wait_fields(1)
        burst = harness.start_burst(server.db, ROWS, INTERVAL, user,
                                    event="tick")
        commits = harness.finish_burst(burst)
        assert len(commits) == ROWS
        got = c.wait_events(ROWS, timeout=15)
        assert [int(e.id) for e in got] == [x["id"] for x in commits]
        assert [json.loads(e.data)["seq"] for e in got] == list(range(ROWS))
        assert all(e.type == "tick" for e in got)
        assert c.no_more_events(ROWS, settle=0.3)

        t_commit = {x["id"]: x["t_commit"] for x in commits}
        lat = sorted((e.time - t_commit[int(e.id)]) * 1000 for e in got)
        line = (f"{server.kind:8s} {ROWS} rows {INTERVAL * 1000:.0f} ms "
                f"apart: p50 {harness.percentile(lat, 0.5):6.1f} ms  "
                f"p99 {harness.percentile(lat, 0.99):6.1f} ms  "
                f"max {lat[-1]:6.1f} ms  (min {lat[0]:.1f} ms)")
        print(line)
        harness.LATENCY_REPORTS.append(line)
    finally:
        c.close()
