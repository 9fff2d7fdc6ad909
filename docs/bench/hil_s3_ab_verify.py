"""Old vs new Verifier.verify (docs/BENCHMARKS.md, HIL "Session 3"): identical results (every field) and
cold timing (a sleep before each call), same inputs, one process. Inputs are recorded through the runtime
(tracker motion, 1-degree binning, the shipped model's logits) on HIL simulator frames (Nav L2, 720
beams), Nav L4/L5 episodes with movers (720 and 64 beams) and Drive-v0 L3 (car); each is verified for the
network's choice and for its worst-scored primitive (alternative search, fallbacks).

    git show a5b79c0:planner/verifier.py > /tmp/verifier_old.py
    .venv/bin/python docs/bench/hil_s3_ab_verify.py /tmp/verifier_old.py 0.02
"""
import sys, time, importlib.util, pickle, os
import numpy as np
spec = importlib.util.spec_from_file_location("verifier_old", sys.argv[1])
old = importlib.util.module_from_spec(spec); sys.modules["verifier_old"] = old; spec.loader.exec_module(old)
from planner import verifier as new
from planner.runtime import Planner, RuntimeConfig
CACHE = "/tmp/hil_s3_verify_inputs.pkl"    # recorded inputs, reused by later runs

def record():
    import gymnasium as gym, sim  # noqa
    from planner.hil import sim_frames
    from planner.sensing import summarize
    recs = []
    def grab(planner, tag):
        f = planner.verifier.verify
        def w(summary, scores, chosen, motion=None, deadline=None):
            recs.append((tag, planner.vehicle.kind, summary, np.array(scores), int(chosen), motion))
            return f(summary, scores, chosen, motion, deadline)
        planner.verifier.verify = w
    p = Planner(RuntimeConfig(deadline_ms=1000)); grab(p, "hil_L2")
    for fr in sim_frames(300, level=2, beams=720, rate_hz=50):
        p.decide(summarize(fr.scan, fr.pose, fr.twist, fr.goal, vehicle=p.vehicle, cfg=p.sensing_config))
    episodes = [(f"nav_L{level}_{beams}", "jackal", "planner/Nav-v0",
                 dict(level=level, lidar={"beams": beams}, control_hz=20))
                for level, beams in ((4, 720), (5, 720), (5, 64))]
    episodes.append(("drive_L3", "car", "planner/Drive-v0", dict(level=3)))
    for tag, vehicle, env_id, kwargs in episodes:
        p = Planner(RuntimeConfig(deadline_ms=1000, vehicle=vehicle)); grab(p, tag)
        env = gym.make(env_id, split="test", **kwargs)
        for ep in range(2):
            _, info = env.reset(seed=ep); p.reset()
            for _ in range(150):
                d = p.decide(info["summary"])
                _, _, te, tr, info = env.unwrapped.step_command(d.v, d.w)
                if te or tr: break
        env.close()
    return recs

if os.path.exists(CACHE):
    recs = pickle.load(open(CACHE, "rb"))
else:
    recs = record(); pickle.dump(recs, open(CACHE, "wb"))
from planner.vehicles import VEHICLES
sleep = float(sys.argv[2]) if len(sys.argv) > 2 else 0.02
vo = {k: old.Verifier(VEHICLES[k2]) for k, k2 in (("diff", "jackal"), ("ackermann", "car"))}
vn = {k: new.Verifier(VEHICLES[k2]) for k, k2 in (("diff", "jackal"), ("ackermann", "car"))}
T = {}
def same(a, b):
    return (a.primitive == b.primitive and a.v == b.v and a.w == b.w and a.status == b.status and a.reason == b.reason
            and np.array_equal(a.path_robot, b.path_robot) and a.clearance == b.clearance)
mism = 0; stats = {}
for i, (tag, kind, s, scores, chosen, motion) in enumerate(recs):
    for which, ch in (("chosen", chosen), ("worst", int(np.argmin(scores)))):
        mo = None if motion is None else old.Motion(motion.velocity, motion.moving)
        pair = [("old", vo[kind], mo), ("new", vn[kind], motion)]
        if i % 2: pair.reverse()
        res = {}
        for name, v, m in pair:
            if sleep: time.sleep(sleep)
            t0 = time.perf_counter(); res[name] = v.verify(s, scores, ch, m); dt = (time.perf_counter() - t0) * 1e3
            T.setdefault((tag.split("_")[0], which, name), []).append(dt)
        if not same(res["old"], res["new"]):
            mism += 1
            if mism < 5: print("MISMATCH", tag, which, res["old"], res["new"])
        stats[(which, res["new"].status)] = stats.get((which, res["new"].status), 0) + 1
print("inputs", len(recs), "mismatches", mism, stats)
f = lambda x: "p50 %.3f p90 %.3f p99 %.3f max %.3f" % tuple(np.percentile(x, [50, 90, 99, 100]))
for key in sorted({k[:2] for k in T}):
    o, n = T[key + ("old",)], T[key + ("new",)]
    print(f"{key[0]:6s} {key[1]:6s} n={len(o)}  old {f(o)} | new {f(n)} | p50 ratio {np.median(n)/np.median(o):.2f}")
