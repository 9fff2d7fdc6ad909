"""Bare echo node: the middleware floor for HIL latency tests.

Same topics, QoS and message types as the planner node, no planner work: on every LaserScan it publishes
a TwistStamped (zero velocity) on cmd_vel whose header.stamp is the scan's stamp. The latency probe's
round trip through this node is the best any planner can do on this machine and middleware.

    echo_node                                   # scan, odom -> cmd_vel in the root namespace
    echo_node --ros-args -r __ns:=/hil_floor    # beside a running planner (what `planner hil` does)
"""
from __future__ import annotations

import sys

import rclpy
from geometry_msgs.msg import TwistStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import LaserScan

from ros_nodes import convert


class EchoNode(Node):
    def __init__(self, **kwargs):
        super().__init__("echo_node", **kwargs)
        self.declare_parameter("frame_id", "base_link")
        self._cmd = TwistStamped()
        self._cmd.header.frame_id = self.get_parameter("frame_id").value
        self.scans = 0
        # Relative names, so a namespace or remapping moves all three together.
        self._pub = self.create_publisher(TwistStamped, "cmd_vel", 10)
        self.create_subscription(LaserScan, "scan", self._on_scan, qos_profile_sensor_data)
        # Subscribed like the planner (so the probe's odometry costs the same here), otherwise unused.
        self.create_subscription(Odometry, "odom", lambda _msg: None, 10)

    def _on_scan(self, msg: LaserScan) -> None:
        self._cmd.header.stamp = msg.header.stamp
        self._pub.publish(self._cmd)
        self.scans += 1


def main(args: list[str] | None = None) -> int:
    convert.init_ros(args)
    node = EchoNode()
    try:
        convert.spin(node)   # EventsExecutor in spin_once slices (its spin() misbehaves here, see convert)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
