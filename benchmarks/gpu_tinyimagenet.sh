#!/usr/bin/env bash
# The tinyimagenet100-32 protocol end to end on a lent GPU: ResNet-32 on 32x32 images,
# 10 steps of 10 classes, 70 epochs each, K = 2000; prints wall time per step and accuracies.
#
#   benchmarks/gpu_tinyimagenet.sh DATA [KEY=VALUE overrides...]
#
# DATA is the Tiny-ImageNet zip/folder, or a JPEG-packed .npz (read with --dataset npz; the
# preset's class order, seed, image size and everything else stay as they are).
# Environment: CONFIG (preset or TOML, default tinyimagenet100-32), DEVICE (default cuda),
# AMP (default bf16), CHANNELS_LAST (default true), COMPILE (default false), OUT (run folder),
# PYTHON (default python3). Needs torch with CUDA; icarl is imported from src/ (not installed).
#
# A device machine receives at most 64 MiB of working tree, so the 118 MB zip goes as a
# 47 MiB packed .npz (JPEG q90 4:4:4, 55,000 images at 32x32) in an ignored folder:
#   echo /.gpudata/ >> .git/info/exclude   # in a git worktree .git is a file; there:
#     X=$(git rev-parse --git-path info/exclude); mkdir -p "${X%/*}"; echo /.gpudata/ >> "$X"
#   python -m icarl.tools.pack .gpudata/tin32.npz --dataset tinyimagenet \
#       --data ../shared/data/tiny-imagenet-100a.zip --image-size 32 --quality 90
# then one device call, carry [".gpudata"]:
#   PYTHON=python3 benchmarks/gpu_tinyimagenet.sh .gpudata/tin32.npz
#
# CPU rehearsal with a tiny setting (4 classes, 1 epoch; 45 s on 2 shared cores, OMP_NUM_THREADS=1):
#   CONFIG=tinyimagenet100-32 DEVICE=cpu AMP=off benchmarks/gpu_tinyimagenet.sh .gpudata/tin32.npz \
#     data.classes=[0,1,2,3] data.classes_per_step=2 learner.epochs=1 learner.memory_size=40
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: $0 DATA_PATH [KEY=VALUE ...]}
shift
CONFIG=${CONFIG:-tinyimagenet100-32}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-runs/gpu-tinyimagenet-$(date +%Y%m%d-%H%M%S)}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
DATASET=()
case "$DATA" in *.npz) DATASET=(--dataset npz) ;; esac
"${PYTHON:-python3}" - <<PY
import torch
print("torch", torch.__version__, "| cuda available:", torch.cuda.is_available())
if torch.cuda.is_available():
    print("GPU:", torch.cuda.get_device_name(0))
elif "$DEVICE".startswith("cuda"):
    raise SystemExit("no CUDA device: this script is for a lent GPU (DEVICE=cpu for a rehearsal)")
PY
START=$(date +%s.%N)
"${PYTHON:-python3}" -m icarl run --config "$CONFIG" ${DATASET[@]+"${DATASET[@]}"} --data "$DATA" --device "$DEVICE" --quiet --out "$OUT" \
  learner.amp="${AMP:-bf16}" learner.channels_last="${CHANNELS_LAST:-true}" \
  learner.compile="${COMPILE:-false}" "$@"
END=$(date +%s.%N)
"${PYTHON:-python3}" - "$OUT/results.json" "$START" "$END" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
print(f"\n{'step':>4} {'classes':>7} {'train s':>8} {'eval s':>7} {'NME %':>6} {'CNN %':>6}")
for s in r["steps"]:
    a = s["accuracy"]
    pct = lambda v: "-" if v is None else f"{100 * v:.2f}"
    print(f"{s['step'] + 1:>4} {s['seen_classes']:>7} {s['train_seconds']:>8.1f} {s['eval_seconds']:>7.1f} "
          f"{pct(a['nme']):>6} {pct(a['cnn']):>6}")
avg, fin = r["average_incremental_accuracy"], r["final_accuracy"]
train = sum(s["train_seconds"] for s in r["steps"])
print(f"average incremental accuracy: NME {pct(avg['nme'])}%  CNN {pct(avg['cnn'])}%")
print(f"final accuracy:               NME {pct(fin['nme'])}%  CNN {pct(fin['cnn'])}%")
print(f"train time {train:.1f} s; wall time including data loading {wall:.1f} s "
      f"({wall / 60:.2f} min; goal < 5 min, moonshot < 2 min)")
PY
