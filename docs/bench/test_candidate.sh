#!/bin/bash
# TEST evaluation of a trained candidate, as in docs/BENCHMARKS.md (session 8 onwards): every planner of
# issue 5's comparison on the held-out TEST seeds, Nav 50 and Drive 40 episodes per level, in two lanes
# (one per core of a 2-core machine), merged into one JSON / markdown table / PNG per suite.
#   docs/bench/test_candidate.sh RUN_DIR SEED OUT_DIR      e.g. runs/train_s2 2 runs/test_s2
# The SB3 MLP baseline is trained first if RUN_DIR has none (`planner train --stages baseline --resume`).
set -euo pipefail
R=$1; SEED=$2; O=$3; mkdir -p "$O"
P=.venv/bin/planner; PY=.venv/bin/python
MR=(--model "$R/final/mini.card.json" --dense-model "$R/final/mini-dense.card.json")
mr() {  # suite episodes
  $P eval --suite "$1" --planner minireasoner minireasoner-fp32 minireasoner-dense minireasoner-noverify \
    --episodes "$2" "${MR[@]}" --out "$O/$1_mr" > "$O/$1_mr.log" 2>&1
}
base() {  # suite episodes
  $P eval --suite "$1" --planner sb3-mlp expert dwa --episodes "$2" --sb3 "$R/baseline/sb3_mlp.zip" \
    --out "$O/$1_base" > "$O/$1_base.log" 2>&1
}
( mr nav 50 ) &
lane1=$!
( if [ ! -f "$R/baseline/sb3_mlp.zip" ]; then
    $P train --out "$R" --seed "$SEED" --stages baseline --resume > "$O/baseline.log" 2>&1
  fi
  base nav 50; base drive 40; mr drive 40 ) &
lane2=$!
wait $lane1; wait $lane2
$PY -m planner.training.merge_eval "$O/nav" "$O/nav_mr/eval_nav.json" "$O/nav_base/eval_nav.json"
$PY -m planner.training.merge_eval "$O/drive" "$O/drive_mr/eval_drive.json" "$O/drive_base/eval_drive.json"
