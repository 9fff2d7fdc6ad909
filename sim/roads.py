"""Road worlds for `planner/Drive-v0`: a straight two-lane one-way road along +x, with its own
difficulty ladder (parked cars, slower traffic to pass, crossing pedestrians).

Geometry: lanes of `lane_width` centred at y = -lane_width / 2 (lane 0, the driving lane) and
+lane_width / 2 (lane 1, the passing lane); the paved area is |y| <= road_half_width. Guard rails
(static boxes the lidar sees) run RAIL_OFFSET outside the paved edges, so a lidar-only planner can
perceive the road; leaving the paved area with any footprint corner ends the episode as
out_of_road before the rails are reached. The car starts in lane 0 at x = 0; the destination is the
line x = destination_x. The goal handed to planners (World.goal) is GOAL_BEYOND m further down lane 0,
so a planner heading for a point drives through the line instead of slowing down on it.

Movers (sim.worlds.Mover) are the traffic: cars in lane 0 driving forward more slowly than we may
(their segment is long enough that they never turn back during an episode), and pedestrians crossing
the road once (timed so that some reach the road as the car arrives). Parked cars are static boxes
in lane 0 (level 4: in both lanes, staggered), never in the stretch the slower traffic drives through.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from planner.sensing import Pose2D
from sim.worlds import Box, InvalidLevel, Mover, World

RAIL_OFFSET = 0.8            # m between the paved edge and a guard rail's inner face
RAIL_HALF_THICKNESS = 0.1
CAR_HALF = (2.2, 0.9)        # parked and moving cars, m (a CAR-sized box)
PED_HALF = (0.25, 0.25)
START_X = 0.0
GOAL_BEYOND = 15.0           # m from the destination line to the goal point handed to planners


@dataclass
class RoadWorld(World):
    """A World plus the road layout the privileged Drive expert and the out_of_road check use."""
    lane_width: float = 3.5
    lanes: int = 2
    mover_kinds: list[str] = field(default_factory=list)   # "car" | "pedestrian", one per mover
    destination_x: float = math.inf                        # crossing this line is arriving

    @property
    def road_half_width(self) -> float:
        return self.lanes * self.lane_width / 2

    def lane_y(self, lane: int) -> float:
        return -self.road_half_width + (lane + 0.5) * self.lane_width


@dataclass(frozen=True)
class RoadLevel:
    length: float                          # m of road to the destination
    lane_width: float = 3.5
    parked_lanes: tuple[int, ...] = ()     # one parked car per entry, in this lane, in road order
    n_traffic: int = 0
    traffic_speed: tuple[float, float] = (2.0, 3.0)
    n_peds: int = 0
    ped_speed: tuple[float, float] = (0.8, 1.3)


ROAD_LEVELS: tuple[RoadLevel, ...] = (
    RoadLevel(length=100.0),                                                        # 0 empty road
    RoadLevel(length=120.0, parked_lanes=(0, 0)),                                   # 1 parked cars
    RoadLevel(length=150.0, parked_lanes=(0,), n_traffic=1),                        # 2 + slow traffic
    RoadLevel(length=170.0, parked_lanes=(0,), n_traffic=1, n_peds=2),              # 3 + pedestrians
    RoadLevel(length=280.0, lane_width=3.25, parked_lanes=(0, 1, 0, 1), n_traffic=2,
              traffic_speed=(2.0, 3.0), n_peds=4, ped_speed=(1.0, 1.6)),            # 4 hardest: slalom
)
NUM_ROAD_LEVELS = len(ROAD_LEVELS)
PARKED_SPACING = 30.0      # m at least between parked cars (a lane change out and back fits)


def check_road_level(level: object) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 0 <= int(level) < NUM_ROAD_LEVELS:
        raise InvalidLevel(f"Drive level must be an integer in 0..{NUM_ROAD_LEVELS - 1}, got {level!r}")
    return int(level)


def road_time_limit(length: float) -> float:
    """Episode time limit, s: 10 s plus three times the time at full CAR speed."""
    return 10.0 + 3.0 * length / 8.0


def generate_road(level: int, seed: int) -> RoadWorld:
    """The road world for (level, seed): deterministic and solvable by construction (parked cars never
    stand beside each other; lane-0 parked cars are behind the stretch the slower traffic drives)."""
    level = check_road_level(level)
    spec = ROAD_LEVELS[level]
    rng = np.random.default_rng([7, level, int(seed)])       # 7: keep streams apart from Nav worlds
    lw, lanes = spec.lane_width, 2
    half = lanes * lw / 2
    lane_y = [-half + (k + 0.5) * lw for k in range(lanes)]
    goal_x = START_X + spec.length
    x_min, x_max = START_X - 10.0, goal_x + GOAL_BEYOND + 10.0
    rail_y = half + RAIL_OFFSET + RAIL_HALF_THICKNESS
    rail_half_len = (x_max - x_min) / 2 + 10.0
    obstacles = [Box((x_min + x_max) / 2, -rail_y, rail_half_len, RAIL_HALF_THICKNESS),
                 Box((x_min + x_max) / 2, rail_y, rail_half_len, RAIL_HALF_THICKNESS)]
    # Parked cars tight to the road edge, one after another (never two side by side); the slower
    # traffic starts behind the last one, so it never drives through a parked car.
    x = 25.0
    for lane in spec.parked_lanes:
        x += float(rng.uniform(0.0, 6.0))
        y = -half + CAR_HALF[1] + 0.3 if lane == 0 else half - CAR_HALF[1] - 0.3
        obstacles.append(Box(x, y, CAR_HALF[0], CAR_HALF[1]))
        x += PARKED_SPACING
    traffic_x = x + 15.0
    time_limit = road_time_limit(spec.length)
    movers: list[Mover] = []
    kinds: list[str] = []
    for k in range(spec.n_traffic):
        speed = float(rng.uniform(*spec.traffic_speed))
        x0 = traffic_x + k * 25.0 + float(rng.uniform(0.0, 8.0))
        # Long enough never to turn back within the episode (a Mover is a back-and-forth segment).
        far = x0 + speed * time_limit + 50.0
        movers.append(Mover(CAR_HALF[0], CAR_HALF[1], (x0, lane_y[0]), (far, lane_y[0]), speed, 0.0))
        kinds.append("car")
    for _ in range(spec.n_peds):
        px = float(rng.uniform(40.0, goal_x - 15.0))
        speed = float(rng.uniform(*spec.ped_speed))
        side = 1.0 if rng.random() < 0.5 else -1.0
        # Reach the near edge around when a car at 5-8 m/s would arrive there (+-4 s).
        arrive = px / float(rng.uniform(5.0, 8.0)) + float(rng.uniform(-4.0, 4.0))
        y_start = -side * (half + max(0.5, speed * arrive))
        y_end = side * (half + 200.0)
        movers.append(Mover(PED_HALF[0], PED_HALF[1], (px, y_start), (px, y_end), speed, 0.0))
        kinds.append("pedestrian")
    start = Pose2D(START_X, lane_y[0], float(rng.uniform(-0.05, 0.05)))
    goal = Pose2D(goal_x + GOAL_BEYOND, lane_y[0], 0.0)
    return RoadWorld(obstacles=obstacles, start=start, goal=goal, bounds=(x_min, -half, x_max, half),
                     movers=movers, walled=False, level=level, seed=int(seed),
                     name=f"drive-L{level}-s{seed}", lane_width=lw, lanes=lanes, mover_kinds=kinds,
                     destination_x=goal_x)


def road_corners(world: RoadWorld, x: float, y: float, yaw: float, half_length: float,
                 half_width: float) -> np.ndarray:
    """(4, 2) footprint corners in the world."""
    c, s = math.cos(yaw), math.sin(yaw)
    local = np.array([[half_length, half_width], [half_length, -half_width],
                      [-half_length, half_width], [-half_length, -half_width]])
    return np.stack([x + c * local[:, 0] - s * local[:, 1], y + s * local[:, 0] + c * local[:, 1]], axis=1)


def off_road(world: RoadWorld, x: float, y: float, yaw: float, half_length: float, half_width: float) -> bool:
    """Any footprint corner outside the paved area."""
    corners = road_corners(world, x, y, yaw, half_length, half_width)
    return bool(np.any(np.abs(corners[:, 1]) > world.road_half_width) or np.any(corners[:, 0] < world.bounds[0]))
