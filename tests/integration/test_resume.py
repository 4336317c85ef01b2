# SPDX-License-Identifier: BSD-2-Clause
"""The resume policy through a real server: a resume point above every
id the database ever gave, after `sse-outbox prune` deleted rows, gets
exactly one reset ("unknown-id"), then every row that is left."""

import json
import os
import subprocess

from test_retention import insert_aged

DAY = 86400


def test_unknown_id_after_prune_gets_one_reset(servers, responder):
    srv = servers.lighttpd(heartbeat=30)
    old = insert_aged(srv.db, [("alice", "m", f"old {i}") for i in range(3)],
                      age=2 * DAY)
    p = subprocess.run([responder, "prune", "--older-than", str(DAY)],
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                            "SSE_DB": str(srv.db)},
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    new = srv.produce(("alice", "m", "new a"), (None, "all", "everyone"))
    mark = srv.logs.mark()
    c = srv.open("alice", last_event_id=1000)
    try:
        got = c.wait_events(3)
        assert got[0].type == "reset" and not got[0].has_id
        assert json.loads(got[0].data) == {
            "reason": "unknown-id", "last_event_id": 1000,
            "newest_id": new[-1]}
        assert [(e.id, e.data) for e in got[1:]] == [
            (str(new[0]), "new a"), (str(new[1]), "everyone")]
        # No second ("pruned") reset follows, now or at the next turn.
        live = srv.produce(("alice", "m", "live"))
        assert c.wait_events(4)[-1].id == str(live[0])
        assert c.no_more_events(4, settle=0.5)
        assert [e.type for e in c.events].count("reset") == 1, c.describe()
    finally:
        c.close()
    log = srv.logs.since(mark)
    assert log.count("sending reset") == 1, log
    assert old == [1, 2, 3]
