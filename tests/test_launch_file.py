"""Static checks of launch/planner.launch.py (launch / launch_ros cannot be installed from PyPI here):
every executable it names is a console script of the package, every file it loads is installed, every
argument is documented, and `planner launch` offers the same arguments with the same defaults."""
import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch" / "planner.launch.py"


def _tree():
    return ast.parse(LAUNCH.read_text())


def _calls(name):
    return [n for n in ast.walk(_tree()) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def _kw(call, key):
    for kw in call.keywords:
        if kw.arg == key:
            return kw.value
    return None


def _setup_py():
    return ast.parse((ROOT / "setup.py").read_text())


def _console_scripts():
    text = (ROOT / "setup.py").read_text()
    block = text[text.index('"console_scripts"'):]
    block = block[:block.index("]")]
    return dict(re.findall(r'"([\w-]+)\s*=\s*([\w.:]+)"', block))


def test_launch_file_is_valid_python_with_generate_launch_description():
    names = [n.name for n in _tree().body if isinstance(n, ast.FunctionDef)]
    assert "generate_launch_description" in names


def test_every_executable_is_a_console_script_of_the_package():
    scripts = _console_scripts()
    nodes = _calls("Node")
    assert len(nodes) == 2
    for node in nodes:
        assert _kw(node, "package").value == "planner"
        executable = _kw(node, "executable").value
        assert executable in scripts, f"{executable} is not a console script in setup.py"
        module, func = scripts[executable].split(":")
        path = ROOT / (module.replace(".", "/") + ".py")
        assert path.is_file(), f"{executable} -> {path} missing"
        assert f"def {func}(" in path.read_text()
        assert _kw(node, "respawn").value is True, f"{executable} is not respawned"


def test_every_loaded_file_is_installed():
    # PathJoinSubstitution([FindPackageShare("planner"), "config", "planner.yaml"]) -> share/planner/config
    joins = _calls("PathJoinSubstitution")
    assert joins
    text = (ROOT / "setup.py").read_text()
    for join in joins:
        parts = [e.value for e in join.args[0].elts if isinstance(e, ast.Constant)]
        rel = Path(*parts)
        assert (ROOT / rel).is_file(), f"{rel} does not exist"
        assert f'(f"share/{{PACKAGE}}/{rel.parent}", glob("{rel.parent}/*.{rel.suffix[1:]}"))' in text, \
            f"{rel} is not installed by setup.py data_files"
    # the launch file itself is installed where `ros2 launch planner planner.launch.py` looks
    assert '(f"share/{PACKAGE}/launch", glob("launch/*.launch.py"))' in text
    assert (ROOT / "resource" / "planner").is_file()


def test_every_argument_is_documented_and_matches_planner_launch():
    from planner.commands.launch import ARGUMENTS
    declared = {}
    for call in _calls("DeclareLaunchArgument"):
        name = call.args[0].value
        description = _kw(call, "description")
        assert description is not None and len(description.value) > 20, f"{name} is not documented"
        default = _kw(call, "default_value")
        declared[name] = default.value if isinstance(default, ast.Constant) else None
    assert set(declared) == {"use_sim", "scenario", "model", "params_file"}
    assert set(declared) == set(ARGUMENTS)
    for name, default in declared.items():
        if default is not None:   # params_file defaults to the installed file in both (resolved at run time)
            assert ARGUMENTS[name][0] == default, name
    # every argument is read by the launch file
    used = {_c.args[0].value for _c in _calls("LaunchConfiguration")}
    assert used == set(declared)
    # and documented in the module docstring / README usage of planner launch
    for name in declared:
        assert name in ARGUMENTS and ARGUMENTS[name][1]


def test_default_params_file_has_a_section_for_every_node_and_validates():
    from planner.commands.launch import check_params_file, default_params_file
    path = default_params_file()
    assert path == ROOT / "config" / "planner.yaml" or path.name == "planner.yaml"
    data = yaml.safe_load(path.read_text())
    names = {_kw(n, "name").value for n in _calls("Node")}
    assert names <= set(data), "every launched node needs a section in config/planner.yaml"
    check_params_file(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "planner_node: hello\n", "planner_node:\n  ros__parameters: [1]\n"])
def test_malformed_params_file_is_a_config_error(tmp_path, text):
    """A params file of the wrong shape used to end in AttributeError/TypeError tracebacks."""
    from planner.commands.launch import check_params_file
    from planner.errors import ConfigError
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="params.yaml"):
        check_params_file(path)


def test_every_node_parameter_is_documented_in_the_yaml():
    from ros_nodes.planner_node import PARAMETER_NAMES as PLANNER_PARAMS
    from ros_nodes.sim_node import PARAMETER_NAMES as SIM_PARAMS
    text = (ROOT / "config" / "planner.yaml").read_text()
    data = yaml.safe_load(text)
    for node, names in (("planner_node", PLANNER_PARAMS), ("sim_node", SIM_PARAMS)):
        params = data[node]["ros__parameters"]
        assert set(params) == set(names), f"{node}: yaml and declared parameters differ"
    for line in text.splitlines():
        m = re.match(r"\s{4}(\w+):\s*\S", line)
        if m and m.group(1) != "ros__parameters" and m.group(1) not in ("planner_node", "sim_node"):
            assert "#" in line, f"parameter {m.group(1)} has no comment in config/planner.yaml"


def test_planner_launch_starts_the_same_nodes_with_the_same_config():
    from planner.commands.launch import node_commands, parse_launch_args
    cmds = node_commands(parse_launch_args(["use_sim:=true", "scenario:=nav:2", "model:=/m/card.json"]))
    assert set(cmds) == {"planner_node", "sim_node"}
    planner, sim = cmds["planner_node"], cmds["sim_node"]
    assert "ros_nodes.planner_node" in planner and "ros_nodes.sim_node" in sim
    assert str(ROOT / "config" / "planner.yaml") in planner or any("planner.yaml" in a for a in planner)
    assert "model_path:=/m/card.json" in planner and "use_sim_time:=true" in planner
    assert "scenario:=nav:2" in sim
    only_planner = node_commands(parse_launch_args([]))
    assert set(only_planner) == {"planner_node"}
    assert not any(a.startswith("model_path:=") for a in only_planner["planner_node"])
