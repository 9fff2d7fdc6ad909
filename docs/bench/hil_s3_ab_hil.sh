#!/bin/bash
# Alternating `planner hil` runs (docs/BENCHMARKS.md, HIL "Session 3"): the work tree's planner_node (new)
# vs one started from /tmp/oldtree (old), same model, probe, frames and machine, minutes apart. Make the
# old tree first, e.g.: git worktree add /tmp/oldtree 679203f && cd /tmp/oldtree &&
#   git show 826a322:planner/sensing.py > planner/sensing.py && git show a5b79c0:planner/verifier.py > planner/verifier.py
# (679203f: the last commit before this session's node changes; the node runs from that tree because
# `python -m` puts the current directory first on sys.path.)
cd /work/main
MODEL=/work/main/models/weights/mini.card.json
OUT=${1:-/tmp/hil_s3_ab}; mkdir -p $OUT
for pair in 1:new 1:old 2:old 2:new 3:new 3:old; do i=${pair%%:*}; v=${pair#*:}; {

    echo "$(date -u +%T) run $i $v load $(cut -d' ' -f1 /proc/loadavg)" >> $OUT/log
    if [ $v = old ]; then
      timeout 400 .venv/bin/planner hil --json --rate 50 --count 1500 --floor-count 300 --source sim --model $MODEL --out $OUT/run${i}_$v \
        --planner-command "sh -c 'cd /tmp/oldtree && exec /work/main/.venv/bin/python -m ros_nodes.planner_node \"\$@\"' sh" > $OUT/run${i}_$v.json 2> $OUT/run${i}_$v.err
    else
      timeout 400 .venv/bin/planner hil --json --rate 50 --count 1500 --floor-count 300 --source sim --model $MODEL --out $OUT/run${i}_$v > $OUT/run${i}_$v.json 2> $OUT/run${i}_$v.err
    fi
  }
done
echo "$(date -u +%T) done load $(cut -d' ' -f1 /proc/loadavg)" >> $OUT/log
