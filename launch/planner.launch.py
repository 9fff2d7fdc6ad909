"""Start the MiniReasoner planner (and optionally the simulator) on a ROS 2 install (Jazzy or newer).

    ros2 launch planner planner.launch.py                      # planner_node with config/planner.yaml
    ros2 launch planner planner.launch.py use_sim:=true scenario:=nav:1
    ros2 launch planner planner.launch.py model:=/path/to/model params_file:=/path/to/my.yaml

pip users without `ros2 launch`: `planner launch use_sim:=true ...` starts the same nodes with the same
arguments and config (planner/commands/launch.py; tests/test_launch_file.py keeps the two in step).
Both nodes are respawned if they crash.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

DEFAULT_PARAMS = PathJoinSubstitution([FindPackageShare("planner"), "config", "planner.yaml"])


def _nodes(context):
    use_sim = LaunchConfiguration("use_sim").perform(context).lower() in ("true", "1", "yes")
    model = LaunchConfiguration("model").perform(context)
    params_file = LaunchConfiguration("params_file").perform(context)
    planner_overrides = {"use_sim_time": use_sim}
    if model:  # only when given: otherwise model_path from params_file applies
        planner_overrides["model_path"] = model
    scenario = LaunchConfiguration("scenario").perform(context)
    if use_sim and scenario.startswith("drive"):
        planner_overrides["vehicle"] = "car"   # Drive scenarios simulate the car
    nodes = [Node(package="planner", executable="planner_node", name="planner_node", output="screen",
                  parameters=[params_file, planner_overrides], respawn=True, respawn_delay=2.0)]
    if use_sim:
        nodes.append(Node(package="planner", executable="sim_node", name="sim_node", output="screen",
                          parameters=[params_file, {"scenario": scenario}], respawn=True, respawn_delay=2.0))
    return nodes


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument(
            "use_sim", default_value="false",
            description="true: also start sim_node (the PyBullet simulator) and run planner_node on its /clock"),
        DeclareLaunchArgument(
            "scenario", default_value="nav:0",
            description="sim_node world: nav[:level[:seed]], drive[:level[:seed]] or a map_server YAML "
                        "file (start and goal from the sim_node parameters in params_file)"),
        DeclareLaunchArgument(
            "model", default_value="",
            description="model card (.card.json) or its directory for planner_node; empty = model_path from params_file"),
        DeclareLaunchArgument(
            "params_file", default_value=DEFAULT_PARAMS,
            description="ROS parameters YAML for planner_node and sim_node (default: the installed "
                        "config/planner.yaml)"),
        OpaqueFunction(function=_nodes),
    ])
