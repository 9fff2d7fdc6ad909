from dataclasses import dataclass
from typing import Literal

import pytest

from planner.config import from_dict, load_yaml, require
from planner.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    a: float = 1.0


@dataclass(frozen=True)
class Outer:
    n: int = 3
    mode: Literal["x", "y"] = "x"
    inner: Inner = Inner()
    pair: tuple[float, float] = (0.0, 1.0)

    def validate(self):
        require(self.n > 0, "n must be positive")


def test_valid_dict_builds_nested_dataclasses():
    cfg = from_dict(Outer, {"n": 5, "mode": "y", "inner": {"a": 2}, "pair": [1, 2]})
    assert cfg == Outer(n=5, mode="y", inner=Inner(a=2.0), pair=(1.0, 2.0))


@pytest.mark.parametrize("data, needle", [
    ({"nn": 1}, "unknown key"),
    ({"n": "3"}, "expected an integer"),
    ({"n": 1.5}, "expected an integer"),
    ({"mode": "z"}, "must be one of"),
    ({"inner": {"a": float("nan")}}, "finite"),
    ({"inner": {"b": 1}}, "inner.b"),
    ({"pair": [1]}, "expected 2 items"),
    ({"n": 0}, "n must be positive"),
])
def test_bad_values_name_the_key(data, needle):
    with pytest.raises(ConfigError, match=needle):
        from_dict(Outer, data)


def test_yaml_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "missing.yaml", Outer)
    bad = tmp_path / "bad.yaml"
    bad.write_text("n: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(bad, Outer)
    ok = tmp_path / "ok.yaml"
    ok.write_text("section:\n  n: 7\n")
    assert load_yaml(ok, Outer, section="section").n == 7
