#!/usr/bin/env bash
# The tinyimagenet100-32 protocol end to end on a lent GPU: ResNet-32 on 32x32 images,
# 10 steps of 10 classes, 70 epochs each, K = 2000; prints wall time per step and accuracies.
#
#   benchmarks/gpu_tinyimagenet.sh PATH/TO/tiny-imagenet-100 [KEY=VALUE overrides...]
#
# Environment: CONFIG (preset or TOML, default tinyimagenet100-32), DEVICE (default cuda),
# AMP (default bf16), CHANNELS_LAST (default true), COMPILE (default false), OUT (run folder).
# Needs torch with CUDA in the current Python; icarl is imported from src/ if not installed.
# CPU rehearsal with a tiny setting (what was run before any GPU call):
#   python benchmarks/make_synthetic.py /tmp/synth32 --classes 4 --per-class 24
#   CONFIG=benchmarks/tiny_cpu.toml DEVICE=cpu benchmarks/gpu_tinyimagenet.sh /tmp/synth32
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: $0 DATA_PATH [KEY=VALUE ...]}
shift
CONFIG=${CONFIG:-tinyimagenet100-32}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-runs/gpu-tinyimagenet-$(date +%Y%m%d-%H%M%S)}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
"${PYTHON:-python3}" - <<PY
import torch
print("torch", torch.__version__, "| cuda available:", torch.cuda.is_available())
if torch.cuda.is_available():
    print("GPU:", torch.cuda.get_device_name(0))
elif "$DEVICE".startswith("cuda"):
    raise SystemExit("no CUDA device: this script is for a lent GPU (DEVICE=cpu for a rehearsal)")
PY
START=$(date +%s.%N)
"${PYTHON:-python3}" -m icarl run --config "$CONFIG" --data "$DATA" --device "$DEVICE" --quiet --out "$OUT" \
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
