"""ament_python package `planner`, also pip-installable (`pip install -e .`).

colcon (in a ROS 2 workspace) and pip both build from this file. ROS dependencies come from
package.xml under colcon, and from requirements.txt (the PyPI ROS wheels) under pip.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "planner"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["planner", "planner.*", "models", "models.*", "sim", "sim.*",
                                    "ros_nodes", "ros_nodes.*"]),
    package_data={"models": ["weights/*"], "sim": ["maps/*"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools", "numpy", "pyyaml"],
    zip_safe=False,
    maintainer="MiniReasoner Planner team",
    maintainer_email="planner@example.com",
    description="Real-time learned local planner (MiniReasoner) for ROS 2 robots and vehicles",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "planner = planner.cli:main",
            "planner_node = ros_nodes.planner_node:main",
            "sim_node = ros_nodes.sim_node:main",
            "latency_probe = ros_nodes.latency_probe:main",
            "echo_node = ros_nodes.echo_node:main",
        ],
    },
)
