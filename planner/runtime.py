"""The planner runtime: SensorSummary -> Decision, independent of ROS.

    planner = Planner(RuntimeConfig(model_path="models/weights/mini.card.json"))
    decision = planner.decide(summary)      # v, w, path (odom), status, reason, confidence, latency

Per decision: goal reached -> stop; unusable input -> controlled stop saying why; otherwise the
MiniReasoner runs its first graph (encode + one refinement step) and refines further while it is not
confident, up to a hard cap and only while the deadline leaves room for another step; the verifier
sweeps the chosen primitive's footprint against the lidar points, moving ones where the planner's
memory of its recent scans (`MotionTracker`, reset by `reset()`) predicts them (correcting, or stopping
when nothing is safe; it stops searching near the deadline); a decision
finished past the deadline is replaced by a safe stop rather than sent late.

Backends: "onnx-int8" (default) and "onnx-fp32" through ONNX Runtime with one thread, sequential;
"torch" runs the checkpoint in PyTorch (also the fallback when onnxruntime cannot be imported or
cannot load the graph). Every file is checked against the model card (size, sha256) before use.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from planner.config import require
from planner.decision import Decision
from planner.errors import ModelLoadError
from planner.export import card_config, checked_file, load_card
from planner.sensing import ModelInput, SensorSummary, vehicle_sensing
from planner.vehicles import STOP, VEHICLES, VehicleSpec, primitive_table, rollout, to_odom
from planner.verifier import Motion, Verifier, VerifierConfig

log = logging.getLogger("planner.runtime")

Backend = Literal["onnx-int8", "onnx-fp32", "torch"]


def nearest_per_bin(points: np.ndarray, bin_rad: float) -> np.ndarray:
    """Indices of the nearest lidar hit per `bin_rad` of bearing (robot frame), in bearing order. A farther
    hit in the same narrow wedge lies behind a nearer one, so the footprint sweep loses nothing it needs
    (at 4 m a 1-degree wedge is 7 cm wide), while a dense scan costs no more than a 1-degree one."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if bin_rad <= 0 or len(pts) < 2:
        return np.arange(len(pts))
    bins = np.floor((np.arctan2(pts[:, 1], pts[:, 0]) + math.pi) / bin_rad).astype(np.int64)
    order = np.lexsort((np.einsum("ij,ij->i", pts, pts), bins))     # by bin, nearest first
    first = np.ones(len(order), dtype=bool)
    first[1:] = bins[order[1:]] != bins[order[:-1]]
    return order[first]


def swept_view(summary: SensorSummary, motion: Motion | None, bin_deg: float) -> tuple[SensorSummary, Motion | None]:
    """What the verifier sweeps: the nearest hit per `bin_deg` of bearing with its velocity (the tracker
    needs every hit, the sweep does not). Used by the runtime and by training's verified rollouts."""
    if motion is None or bin_deg <= 0:
        return summary, motion
    keep = nearest_per_bin(summary.points, math.radians(bin_deg))
    if len(keep) == len(summary.points):
        return summary, motion
    return replace(summary, points=np.asarray(summary.points)[keep]), Motion(motion.velocity[keep], motion.moving[keep])


@dataclass(frozen=True)
class RuntimeConfig:
    model_path: str = "models/weights/mini.card.json"  # the model card (or its directory)
    backend: Backend = "onnx-int8"
    torch_fallback: bool = True        # use the PyTorch checkpoint if ONNX Runtime is unavailable
    vehicle: str = "jackal"            # planner.vehicles.VEHICLES key
    deadline_ms: float = 10.0          # a decision later than this becomes a safe stop
    verify: bool = True                # footprint sweep of the chosen primitive (planner.verifier)
    goal_tolerance: float = 0.5        # m; closer than this = goal reached, stop (= the sim's training success radius)
    max_refine_steps: int = 0          # hard cap on refinement steps; 0 = the model card's max_steps
    exit_confidence: float = 0.0       # stop refining at this confidence; 0 = the model card's value
    step_margin: float = 1.5           # start another step only if elapsed + margin * step time fits
    verify_reserve_ms: float = 1.0     # deadline time kept for the verifier after the network
    verify_point_bin_deg: float = 1.0  # the verifier sweeps the nearest hit per this many degrees (0 = every
                                       # hit); the tracker still sees every hit
    path_horizon: float = 2.0          # s of local path in the Decision
    path_dt: float = 0.2               # s between its waypoints
    stall_recovery_s: float = 2.0      # after the model has chosen STOP this long while the vehicle stands and
                                       # nothing moving is in view, offer the verifier its best moving primitive
                                       # instead (0 = off); a static obstacle never clears, so STOP there is forever
    stall_speed: float = 0.05          # m/s: slower than this counts as standing
    verifier: VerifierConfig = field(default_factory=VerifierConfig)

    def validate(self) -> None:
        require(self.vehicle in VEHICLES, f"vehicle must be one of {sorted(VEHICLES)}")
        require(self.deadline_ms > 0, "deadline_ms must be positive")
        require(self.goal_tolerance >= 0, "goal_tolerance must be >= 0")
        require(0 <= self.max_refine_steps <= 16, "max_refine_steps must be in [0, 16]")
        require(0 <= self.exit_confidence <= 1, "exit_confidence must be in [0, 1]")
        require(self.step_margin >= 1, "step_margin must be >= 1")
        require(0 <= self.verify_reserve_ms < self.deadline_ms, "verify_reserve_ms must be < deadline_ms")
        require(0 <= self.verify_point_bin_deg <= 10, "verify_point_bin_deg must be in [0, 10]")
        require(self.path_horizon >= 1.5 and self.path_horizon / self.path_dt >= 5,
                "the path needs >= 5 waypoints over >= 1.5 s")
        require(self.stall_recovery_s >= 0, "stall_recovery_s must be >= 0 (0 = off)")
        require(self.stall_speed > 0, "stall_speed must be positive")


# ----------------------------------------------------------------------------------------------
# Backends: first(lidar, state) and step(x, z, state) -> dict of numpy arrays (batch 1)


class OrtBackend:
    def __init__(self, first_path, step_path):
        import onnxruntime as ort
        opts = ort.SessionOptions()
        # One thread, sequential: on a shared 2-core machine two threads were 6x worse (NOTES.md).
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        self.first_sess = ort.InferenceSession(str(first_path), opts, providers=["CPUExecutionProvider"])
        self.step_sess = ort.InferenceSession(str(step_path), opts, providers=["CPUExecutionProvider"])
        self.first_names = [o.name for o in self.first_sess.get_outputs()]
        self.step_names = [o.name for o in self.step_sess.get_outputs()]

    def first(self, lidar: np.ndarray, state: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.first_names, self.first_sess.run(None, {"lidar": lidar, "state": state})))

    def step(self, x: np.ndarray, z: np.ndarray, state: np.ndarray) -> dict[str, np.ndarray]:
        out = dict(zip(self.step_names, self.step_sess.run(None, {"x": x, "z": z, "state": state})))
        out["z"] = out.pop("z_next")
        return out


class TorchBackend:
    def __init__(self, model):
        import torch
        from models.minireasoner import FirstStepGraph, StepGraph
        torch.set_num_threads(1)  # one core, like ORT (NOTES.md: 2 threads were several times slower)
        self.torch = torch
        self.first_graph, self.step_graph = FirstStepGraph(model.eval()), StepGraph(model.eval())

    def first(self, lidar: np.ndarray, state: np.ndarray) -> dict[str, np.ndarray]:
        from planner.export import FIRST_OUTPUTS
        with self.torch.inference_mode():
            outs = self.first_graph(self.torch.from_numpy(lidar), self.torch.from_numpy(state))
        return {k: v.numpy() for k, v in zip(FIRST_OUTPUTS, outs)}

    def step(self, x: np.ndarray, z: np.ndarray, state: np.ndarray) -> dict[str, np.ndarray]:
        from planner.export import STEP_OUTPUTS
        t = self.torch.from_numpy
        with self.torch.inference_mode():
            outs = self.step_graph(t(x), t(z), t(state))
        out = {k: v.numpy() for k, v in zip(STEP_OUTPUTS, outs)}
        out["z"] = out.pop("z_next")
        return out


# ----------------------------------------------------------------------------------------------


class Planner:
    """Loads a MiniReasoner through its model card and turns sensor summaries into decisions."""

    def __init__(self, cfg: RuntimeConfig = RuntimeConfig()):
        cfg.validate()
        self.cfg = cfg
        self.card, directory = load_card(cfg.model_path)
        self.model_config, card_sensing = card_config(self.card)
        # The card's sensing is Nav's (the jackal's); a car sees with Drive's geometry, as in training.
        self.sensing_config = vehicle_sensing(cfg.vehicle, card_sensing)
        self.vehicle: VehicleSpec = VEHICLES[cfg.vehicle]
        self.max_steps = cfg.max_refine_steps or self.model_config.max_steps
        self.exit_confidence = cfg.exit_confidence or self.model_config.exit_confidence
        self.backend_name, self.backend = self._load_backend(cfg.backend, directory)
        self.verifier = Verifier(self.vehicle, cfg.verifier)
        # The planner's memory of its own recent scans: obstacle velocities for the verifier, and moving
        # obstacles drawn ahead in the model's input (as the simulator drew them in training).
        self.model_input = ModelInput(self.sensing_config.motion_lookahead > 0, cfg.verifier)
        self.tracker = self.model_input.tracker
        self.table = primitive_table(self.vehicle)
        self.reset()
        self._warm_up()

    # -- loading ---------------------------------------------------------------------------------

    def _load_backend(self, backend: str, directory):
        files = self.card["files"]
        if backend != "torch":
            entries = files.get(backend)
            if not isinstance(entries, dict) or not {"first", "step"} <= set(entries):
                raise ModelLoadError(f"model card lists no {backend} graphs")
            first = checked_file(self.card, directory, entries["first"])
            step = checked_file(self.card, directory, entries["step"])
            try:
                return backend, OrtBackend(first, step)
            except ImportError as exc:
                reason = f"onnxruntime unavailable ({exc})"
            except Exception as exc:  # ORT cannot load a file whose hash matched: say so, try torch
                reason = f"ONNX Runtime cannot load {first.name}: {str(exc).splitlines()[0][:200]}"
            if not self.cfg.torch_fallback:
                raise ModelLoadError(reason)
            log.warning("%s; falling back to the PyTorch checkpoint", reason)
        from planner.export import load_checkpoint
        if "torch" not in files:
            raise ModelLoadError("model card lists no torch checkpoint")
        model, _ = load_checkpoint(checked_file(self.card, directory, files["torch"]))
        if model.cfg != self.model_config:
            raise ModelLoadError("checkpoint config does not match the model card")
        return "torch", TorchBackend(model)

    def _warm_up(self) -> None:
        """First ORT/torch calls allocate; do them now, not in the first real decision."""
        lidar = np.ones((1, self.model_config.num_sectors), np.float32)
        state = np.zeros((1, self.model_config.state_dim), np.float32)
        for _ in range(3):
            out = self.backend.first(lidar, state)
            self.backend.step(out["x"], out["z"], state)

    def reset(self) -> None:
        """Forget the previous decision, the remembered scans and the stall timer (new goal / episode,
        robot moved). The model keeps no state between calls."""
        self.last: dict[str, Any] = {}
        self.model_input.reset()
        self._stall_since: float | None = None      # stamp since which the model has chosen STOP while standing
        self._recovering_since: float | None = None  # stamp at which a stall recovery began

    # -- deciding --------------------------------------------------------------------------------

    def decide(self, summary: SensorSummary, started_at: float | None = None) -> Decision:
        """One decision within cfg.deadline_ms; never raises for bad input (stops and says why).

        started_at: time.perf_counter() when the work for this decision began (e.g. when the scan
        arrived), so the deadline covers queueing and summarising too; default: now."""
        t0 = time.perf_counter() if started_at is None else started_at
        try:
            return self._decide(summary, t0)
        except Exception as exc:  # a planner that is unsure stops the robot and says why
            log.exception("decide failed")
            return self._stop(summary, "fallback", f"planner error: {type(exc).__name__}: {exc}", t0)

    def _stall_recovery(self, summary: SensorSummary, chosen: int, motion) -> str:
        """Why this decision is a stall recovery ("" when it is not). The model may keep choosing STOP in
        front of a static obstacle it does not know how to pass (Drive: behind a parked car); nothing in
        view changes, so it would stand until the episode ends. After cfg.stall_recovery_s of that, with
        nothing moving in view, STOP is off the menu for as long again: the verifier gets the model's own
        move when it picks one, else its best moving primitive. The window does not end when the model picks
        a move once: a model that flickers (one step's move as the car creeps, then STOP again) ended it
        every 0.1 s, and the car crept 6 cm per 2 s stall (fp32 v8, Drive VAL, docs/BENCHMARKS.md session 14)."""
        cfg = self.cfg
        if cfg.stall_recovery_s <= 0 or not cfg.verify:
            return ""
        now = float(summary.stamp)
        if self._recovering_since is not None:
            if 0 <= now - self._recovering_since <= cfg.stall_recovery_s:
                return f"stall recovery ({now - self._recovering_since:.1f} s in)"
            self._recovering_since = self._stall_since = None   # the window is over: wait for another stall
        if chosen != STOP:
            self._stall_since = None
            return ""
        standing = abs(summary.twist.v) < cfg.stall_speed
        quiet = motion is None or not motion.count
        if not (standing and quiet):
            self._stall_since = None
            return ""
        if self._stall_since is None or now < self._stall_since:
            self._stall_since = now
        if now - self._stall_since < cfg.stall_recovery_s:
            return ""
        self._recovering_since = now
        return f"stall recovery (the model chose STOP for {now - self._stall_since:.1f} s standing)"

    def _elapsed_ms(self, t0: float) -> float:
        return (time.perf_counter() - t0) * 1e3

    def _stop_path(self, summary: SensorSummary) -> np.ndarray:
        poses = rollout(summary.twist.v, summary.twist.w, 0.0, 0.0, self.vehicle,
                        self.cfg.path_horizon, self.cfg.path_dt)
        return to_odom(poses, summary.pose.x, summary.pose.y, summary.pose.yaw)

    def _stop(self, summary: SensorSummary, status: str, reason: str, t0: float,
              confidence: float = 0.0, steps: int = 0) -> Decision:
        try:
            path = self._stop_path(summary)
        except Exception:  # even a malformed summary gets a (trivial) path
            path = np.zeros((max(5, int(round(self.cfg.path_horizon / self.cfg.path_dt))), 3))
        return Decision(0.0, 0.0, path, status, reason, STOP, confidence, self._elapsed_ms(t0), steps)

    def input_problem(self, summary: SensorSummary) -> str:
        """Why this summary cannot be planned on ("" when it can)."""
        if summary.vehicle != self.vehicle:
            return f"summary is for a {summary.vehicle.kind} vehicle, planner loaded for {self.cfg.vehicle}"
        lidar, state = np.asarray(summary.lidar), np.asarray(summary.state)
        if lidar.shape != (self.model_config.num_sectors,) or state.shape != (self.model_config.state_dim,):
            return (f"input shape lidar {lidar.shape} / state {state.shape}, the model expects "
                    f"({self.model_config.num_sectors},) / ({self.model_config.state_dim},)")
        if not (np.isfinite(lidar).all() and np.isfinite(state).all()):
            return "non-finite values in the sensor summary"
        return summary.lidar_unusable(self.sensing_config.min_valid_fraction)

    def _decide(self, summary: SensorSummary, t0: float) -> Decision:
        cfg = self.cfg
        problem = self.input_problem(summary)
        if problem:
            return self._stop(summary, "fallback", problem, t0)
        model_lidar, motion = self.model_input(summary, track=cfg.verify)
        swept, motion = swept_view(summary, motion, cfg.verify_point_bin_deg if cfg.verify else 0.0)
        if summary.goal_distance <= cfg.goal_tolerance:
            return self._stop(summary, "goal_reached", f"within {cfg.goal_tolerance} m of the goal", t0)

        late = self._elapsed_ms(t0)
        if late > cfg.deadline_ms - cfg.verify_reserve_ms:
            return self._stop(summary, "fallback", f"deadline missed: {late:.1f} ms gone before the "
                              f"network could run (deadline {cfg.deadline_ms:g} ms)", t0)
        # The network: first graph, then refinement steps while unsure and while time allows.
        lidar = model_lidar.reshape(1, -1)
        state = np.asarray(summary.state, np.float32).reshape(1, -1)
        out = self.backend.first(lidar, state)
        steps, step_ms = 1, self._elapsed_ms(t0)
        network_budget = cfg.deadline_ms - cfg.verify_reserve_ms
        stopped_by = "cap"
        while steps < self.max_steps:
            if float(out["confidence"][0]) >= self.exit_confidence:
                stopped_by = "confident"
                break
            if self._elapsed_ms(t0) + cfg.step_margin * step_ms > network_budget:
                stopped_by = "deadline"
                break
            t_step = time.perf_counter()
            out = {**out, **self.backend.step(out["x"], out["z"], state)}
            step_ms = (time.perf_counter() - t_step) * 1e3
            steps += 1
        network_ms = self._elapsed_ms(t0)
        logits = out["logits"][0].astype(np.float64)
        confidence = float(out["confidence"][0])
        chosen = int(np.argmax(logits))
        recovery = self._stall_recovery(summary, chosen, motion)
        scores = logits
        if recovery:
            scores = logits.copy()
            scores[STOP] = -np.inf     # the verifier then tries the model's moving primitives in score order
            chosen = int(np.argmax(scores))
        self.last = {"logits": logits, "confidence": confidence, "steps": steps, "stopped_by": stopped_by,
                     "model_path_robot": out["path"][0], "gate": out["gate"][0],
                     "keep_index": out["keep_index"][0], "value": float(out["value"][0]),
                     "network_ms": network_ms}

        if cfg.verify:
            # Past the deadline less a safety reserve, the verifier stops searching (and we stop).
            budget_end = t0 + max(cfg.deadline_ms - 0.5 * cfg.verify_reserve_ms, 0.0) / 1e3
            verified = self.verifier.verify(swept, scores, chosen, motion, deadline=budget_end)
            primitive, v, w = verified.primitive, verified.v, verified.w
            status, reason, path_robot = verified.status, verified.reason, verified.path_robot
            if recovery:
                if primitive == STOP and verified.exhausted:  # nothing clear to move to: stand, as the model chose
                    status, reason = "verified", f"{recovery}; no primitive is clear, standing"
                elif primitive == STOP:                       # e.g. no time left to search: the verifier's stop
                    reason = f"{recovery}; {reason}"
                else:
                    status, reason = "corrected", f"{recovery}; took primitive {primitive}" + (
                        f" ({reason})" if reason else "")
            self.last["clearance"] = verified.clearance
            self.last["moving_hits"] = motion.count if motion is not None else 0
            self.last["motion"] = motion          # per-hit velocities of the swept points (diagnostics)
            self.last["swept_points"] = swept.points
        else:
            primitive = chosen
            v, w = (float(c) for c in self.table[chosen])
            status, reason = "unverified", "verifier disabled (verify=false)"
            path_robot = rollout(summary.twist.v, summary.twist.w, v, w, self.vehicle,
                                 cfg.path_horizon, cfg.path_dt)
        latency = self._elapsed_ms(t0)
        if latency > cfg.deadline_ms:
            return self._stop(summary, "fallback", f"deadline missed: decision took {latency:.1f} ms "
                              f"> {cfg.deadline_ms:g} ms", t0, confidence, steps)
        path = to_odom(np.asarray(path_robot, np.float64), summary.pose.x, summary.pose.y, summary.pose.yaw)
        return Decision(float(v), float(w), path, status, reason, int(primitive), confidence,
                        self._elapsed_ms(t0), steps)
