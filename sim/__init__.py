"""Simulator: Gymnasium environments on PyBullet (DIRECT).

Importing `sim` registers `planner/Nav-v0` (sim.nav_env:NavEnv) and `planner/Drive-v0`
(sim.drive_env:DriveEnv) with Gymnasium; the environment modules (and PyBullet) load only when an
environment is made, so this import stays cheap.

    import gymnasium as gym, sim
    env = gym.make("planner/Nav-v0", level=3)
"""
import gymnasium as _gym

for _id, _entry in (("planner/Nav-v0", "sim.nav_env:NavEnv"), ("planner/Drive-v0", "sim.drive_env:DriveEnv")):
    if _id not in _gym.registry:
        # No TimeLimit wrapper: the envs truncate themselves so info["outcome"] = "timeout" is set.
        _gym.register(id=_id, entry_point=_entry, disable_env_checker=True)
