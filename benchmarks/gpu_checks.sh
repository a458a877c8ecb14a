#!/usr/bin/env bash
# The GPU figures still owed (docs/speed.md, docs/results.md), in one call of a short device lease:
#   bash benchmarks/gpu_checks.sh     (on the GPU machine, from the repository root; 13-19 minutes with the
#                                     defaults: trim BUDGET_SEEDS, ROWS or ROW_LIMIT to fit the lease)
# 1. GPU tests (CUDA graphs, pruning on CUDA, CUDA benchmark runtimes); train and test on CUDA;
#    make prune's command with a 60-second budget (compare_budget.py, seeds $BUDGET_SEEDS), and
#    Torch-Pruning replaying it
# 2. speed table with torch.compile rows, torch.profiler summary
# 3. torchrun --nproc_per_node=1 against a plain process
# 4. compare_matlab.py scenario 1 rows, each time-limited (Ctrl-C keeps the best)
# 5. GPU latency of the bundled network against the "ours" row's result
# Needs CIFAR-10 at $DATA (default .device/cifar10-jpeg.tar.gz, an ignored copy of the shared
# tarball). Results go to $OUT (checks.log, *.json, runs.tgz). A .git copied with the tree can be
# older than its files: pass the commit that is checked out here as BENCHMARK_COMMIT.
set -u -o pipefail
OUT=${OUT:-/tmp/taylorprune-out}
WORK=${WORK:-/tmp/taylorprune-work}
DATA=${DATA:-.device/cifar10-jpeg.tar.gz}
ROWS=${ROWS:-matlab-recipe,ours,ours-no-distill}
ROW_LIMIT=${ROW_LIMIT:-110}   # seconds per benchmark row
ROW_ARGS=${ROW_ARGS:-}        # extra compare_matlab.py flags (a CPU dry run: --validation 100 --epochs 1)
COMPILE=${COMPILE---compile}  # speed.py flag; empty on a CPU dry run
mkdir -p "$OUT" "$WORK"
export PYTHONPATH=$PWD/src:$PWD PYTHONUNBUFFERED=1 TAYLORPRUNE_DATA=$WORK/cache
# Torch-Pruning is not on the GPU image: carry its wheel in .whl/ (ignored) for its row, fetched here with
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl torch-pruning==1.6.1
if ls .whl/torch_pruning-*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/torch_pruning-*.whl \
    && export PYTHONPATH=$PYTHONPATH:/tmp/site && ROWS=${ROWS},torch-pruning-taylor
fi
T0=$(date +%s)
exec > >(tee -a "$OUT/checks.log") 2>&1
log() { echo "== [$(($(date +%s) - T0)) s] $*"; }

log "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__)"
python3 -c "from taylorprune.data import load_data; load_data('$DATA')"  # decoded before any clock starts
log "GPU tests"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/train/test_graphs.py tests/train/test_device.py \
  tests/export/test_cli.py::test_benchmark_on_the_gpu tests/prune/test_loop.py::test_a_run_on_the_gpu_with_cuda_graphs
log "GPU tests exit $?"
log "train and test on the GPU (the subcommands besides prune that take a device)"
timeout 120 python3 -m taylorprune train --model cifarnet --data "$DATA" --max-epochs 1 --out "$WORK/train" \
  --force --quiet --execution-environment cuda
timeout 60 python3 -m taylorprune test --model "$WORK/train/model.safetensors" --data "$DATA" --execution-environment cuda
log "make prune's command, 60-second budget, seeds ${BUDGET_SEEDS:=0,1,2}; Torch-Pruning replaying it if carried"
BUDGET_ROWS=ours$([ -d /tmp/site/torch_pruning ] && echo ,torch-pruning)
timeout 600 python3 benchmarks/compare_budget.py --data "$DATA" --rows "$BUDGET_ROWS" --seeds "$BUDGET_SEEDS" \
  --budget 60s --out "$WORK/budget" --json "$OUT/compare_budget-gpu.json"
log "speed table (with torch.compile) and the profile of where a step's time goes"
timeout 240 python3 benchmarks/speed.py $COMPILE --profile --data "$DATA" --json "$OUT/speed-gpu.json" | tail -n 40
log "torchrun nproc 1 vs a plain process (45,000 images, 3 epochs, bf16)"
for launcher in "python3" "python3 -m torch.distributed.run --standalone --nproc_per_node=1"; do
  timeout 60 $launcher benchmarks/ddp_speed.py --images "${DDP_IMAGES:-45000}" --epochs 3 --precision bf16 | tee -a "$OUT/ddp-gpu.jsonl"
done
log "compare_matlab scenario 1: rows $ROWS, $ROW_LIMIT s each"
python3 benchmarks/compare_matlab.py --data "$DATA" --rows "$ROWS" --time-limit "$ROW_LIMIT" \
  --out "$WORK/compare" --json "$OUT/compare_matlab.json" $ROW_ARGS
log "compare_matlab scenario 2 (akamaster ResNet-56), if its checkpoint was carried to .device/"
if [ -f .device/akamaster-resnet56.th ]; then
  python3 benchmarks/compare_matlab.py --data "$DATA" --scenario 2 --foreign .device/akamaster-resnet56.th \
    --rows "${ROWS2:-ours-macs}" --time-limit "$ROW_LIMIT" --out "$WORK/compare2" --json "$OUT/compare_foreign.json"
fi
log "training rate of the 'ours' row's pruned network (at least the unpruned rate?)"
timeout 90 python3 benchmarks/speed.py --ours-only --network "$WORK/compare/ours/model.safetensors" \
  --json "$OUT/speed-pruned-gpu.json" | tail -n 8
log "GPU latency: bundled cifarnet vs the 'ours' row"
timeout 60 python3 -m taylorprune benchmark --model "$WORK/compare/ours/model.safetensors" --baseline cifarnet \
  --runtimes pytorch-cuda,pytorch-cuda-bf16 --batch-sizes 1,128,1024 --json "$OUT/latency-gpu.json"
tar czf "$OUT/runs.tgz" -C "$WORK" --exclude='*.pt' --exclude=checkpoint.safetensors compare budget
log "done"
