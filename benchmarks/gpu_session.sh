#!/usr/bin/env bash
# The GPU session behind the committed GPU figures, in two calls of a short device lease:
#   bash benchmarks/gpu_session.sh part1   checks, speed table, train the bundled cifarnet, seed workflow
#   bash benchmarks/gpu_session.sh part2   continue the prune runs part 1 left unfinished, GPU latency
# Needs CIFAR-10 at $DATA (default .device/cifar10-jpeg.tar.gz, an ignored copy of the shared
# tarball) and runs from the repository root with the machine's own torch (PYTHONPATH=src).
# Every phase has a time budget; results go to $OUT (session.log, speed-gpu.json, runs.tgz).
set -u -o pipefail
PART=${1:-part1}
OUT=${OUT:-/tmp/taylorprune-out}
WORK=${WORK:-/tmp/taylorprune-work}
DATA=${DATA:-.device/cifar10-jpeg.tar.gz}
TRAIN_BUDGET=${TRAIN_BUDGET:-170}   # seconds of training for the bundled network
MATLAB_BUDGET=${MATLAB_BUDGET:-150} # seconds for the seed workflow with MATLAB's stop rule
REST_BUDGET=${REST_BUDGET:-60}     # seconds for the adaptive-step run (part 1; part 2 continues)
MAX_EPOCHS=${MAX_EPOCHS:-200}
PRUNE_EPOCHS=${PRUNE_EPOCHS:-5}     # MATLAB's fine-tuning epochs per pruning iteration
VALIDATION=${VALIDATION:-5000}      # validation images carved from the training split
MIN_ACCURACY=${MIN_ACCURACY:-85}    # the seed workflow's floor
mkdir -p "$OUT" "$WORK"
export PYTHONPATH=$PWD/src:$PWD PYTHONUNBUFFERED=1 TAYLORPRUNE_DATA=$WORK/cache
T0=$(date +%s)
exec > >(tee -a "$OUT/session.log") 2>&1
log() { echo "== [$(($(date +%s) - T0)) s] $*"; }

prune_run() {  # name, budget (s), min-increment, resume flag
  local name=$1 budget=$2 minimum=$3 resume=${4:-}
  log "prune $name (budget ${budget} s, min-increment $minimum) $resume"
  timeout -s INT -k 30 "$budget" python3 benchmarks/speed.py --skip-rates --workflow --data "$DATA" \
    --model "$(ls "$WORK/train/model.safetensors" 2>/dev/null || echo cifarnet)" --min-increment "$minimum" --out "$WORK/prune-$name" \
    --epochs "$PRUNE_EPOCHS" --min-accuracy "$MIN_ACCURACY" --validation "$VALIDATION" --json "$WORK/workflow-$name.json" \
    $(cat "$WORK/graphs-flag" 2>/dev/null) $resume
  log "prune $name exit $?"
}

pack() {
  tar czf "$OUT/runs.tgz" -C "$WORK" --exclude='*.pt' --exclude='checkpoint.safetensors' \
    $(cd "$WORK" && ls -d train prune-* workflow-*.json speed-gpu.json 2>/dev/null)
  log "packed $(du -h "$OUT/runs.tgz" | cut -f1)"
}

if [ "$PART" = part1 ]; then
  log "machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
  python3 -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
  log "data: decode once, then cached"
  python3 - "$DATA" <<'EOF'
import sys, time
from taylorprune.data import load_data
for what in ("first load", "cached load"):
    t = time.perf_counter(); train, test = load_data(sys.argv[1])
    print(f"{what}: {time.perf_counter() - t:.2f} s, {len(train)} + {len(test)} images")
EOF
  log "GPU tests (CUDA graphs, GPU benchmark runtimes)"
  GRAPHS=--cuda-graphs
  # What training and pruning below rely on (SGD through a graph, pruned shapes) decides the flag.
  if ! timeout 90 python3 -m pytest -q -p no:cacheprovider tests/train/test_graphs.py -k "sgdm or pruned"; then
    GRAPHS=--no-cuda-graphs
    log "graph tests FAILED: training below runs without CUDA graphs"
  fi
  timeout 60 python3 -m pytest -q -p no:cacheprovider tests/train/test_graphs.py -k "not (sgdm or pruned)" \
    tests/export/test_cli.py::test_benchmark_on_the_gpu tests/prune/test_loop.py::test_a_run_on_the_gpu_with_cuda_graphs
  log "other GPU tests exit $?"
  echo "$GRAPHS" > "$WORK/graphs-flag"
  log "speed table"
  timeout 100 python3 benchmarks/speed.py --data "$DATA" --json "$WORK/speed-gpu.json"
  cp "$WORK/speed-gpu.json" "$OUT/" 2>/dev/null
  MODE=$([ "$GRAPHS" = --cuda-graphs ] && echo ours-bf16 || echo eager-bf16-cl)
  RATE=$(python3 -c "import json; rows = json.load(open('$WORK/speed-gpu.json'))['training_steps']; \
print(int(next(r['images_per_s'] for r in rows if r['mode'].startswith('$MODE') and r['batch'] == 128)))" \
    2>/dev/null || echo 8000)
  EPOCHS=$(python3 -c "print(max(min(30, $MAX_EPOCHS), min($MAX_EPOCHS, int($TRAIN_BUDGET * $RATE / 45000 / 1.15))))")
  log "train cifarnet: $EPOCHS epochs (measured $RATE images/s at batch 128)"
  timeout $((TRAIN_BUDGET * 2)) python3 -m taylorprune train --model cifarnet --data "$DATA" --validation "$VALIDATION" --epochs "$EPOCHS" --lr 0.1 --batch-size 128 \
    --momentum 0.9 --l2-regularization 5e-4 --learn-rate-schedule cosine --warmup-epochs 1 \
    --objective-metric-name accuracy --output-network best-validation --plots training-progress --seed 0 \
    --out "$WORK/train" --force --quiet $GRAPHS
  log "train exit $?"
  pack
  prune_run matlab "$MATLAB_BUDGET" none
  pack
  prune_run adaptive "$REST_BUDGET" 0.005
  pack
else
  for name in matlab adaptive; do
    if [ -f "$WORK/workflow-$name.json" ] && python3 -c "import json, sys; \
sys.exit(json.load(open('$WORK/workflow-$name.json'))['workflow']['stop_reason'] == 'Stopped by the user.')"; then
      continue  # finished on its own in part 1
    fi
    prune_run "$name" "${PART2_BUDGET:-200}" "$([ $name = matlab ] && echo none || echo 0.005)" --resume
    pack
  done
  log "GPU latency: bundled vs pruned"
  timeout 90 python3 -m taylorprune benchmark --model "$WORK/prune-matlab/model.safetensors" \
    --baseline "$WORK/train/model.safetensors" --runtimes pytorch-cuda,pytorch-cuda-bf16 \
    --batch-sizes 1,128,1024 --json "$WORK/latency-gpu.json"
  cp "$WORK/latency-gpu.json" "$OUT/" 2>/dev/null
  pack
fi
log "done"
