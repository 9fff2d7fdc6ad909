"""planner_node's /diagnostics timer yields to the scans: while scans flow, its publication (statistics
over the last 20,000 scans) waits for the moment right after the next scan's command, so a scan never
queues behind it; without scans it publishes at once (issue 7, tail latency)."""
import time

from test_ros_planner_node import Harness, card, goal, odom, scan_msg  # noqa: F401  (card: fixture)


def test_diagnostics_wait_for_the_next_scan_while_scans_flow(card):  # noqa: F811
    h = Harness(model_path=card, cmd_vel_stamped=True)
    try:
        h.node.on_odom(odom())
        h.node.on_goal(goal(3.0, 0.0))
        for k in range(4):
            h.node.on_scan(scan_msg([6.0] * 271, stamp=10.0 + 0.02 * k))
            time.sleep(0.02)
        n_diag, n_cmd = len(h.diagnostics), len(h.commands)
        h.node.on_diagnostics_timer()                      # scans flowing: deferred
        assert len(h.diagnostics) == n_diag
        h.node.on_scan(scan_msg([6.0] * 271, stamp=10.1))
        assert len(h.commands) == n_cmd + 1 and len(h.diagnostics) == n_diag + 1   # after the command
        _, _, values = convert_values(h)
        assert values["decisions"] == "5" and values["scans_total"] == "5"
        h.node.on_scan(scan_msg([6.0] * 271, stamp=10.12))
        assert len(h.diagnostics) == n_diag + 1            # nothing due: no extra publication
        time.sleep(0.1)                                    # scans stopped (> 2 scan periods)
        h.node.on_diagnostics_timer()
        assert len(h.diagnostics) == n_diag + 2
        h.node.on_scan(scan_msg([6.0] * 271, stamp=10.3))
        h.node.on_diagnostics_timer()                      # deferred again ...
        assert len(h.diagnostics) == n_diag + 2
        h.node.on_diagnostics_timer()                      # ... but never past the next tick
        assert len(h.diagnostics) == n_diag + 3
    finally:
        h.close()


def convert_values(h):
    from ros_nodes import convert
    return convert.diagnostic_values(h.diagnostics[-1], "planner: MiniReasoner local planner")
