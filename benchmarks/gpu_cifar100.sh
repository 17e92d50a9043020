#!/usr/bin/env bash
# The paper's CIFAR-100 protocol end to end on one GPU: ResNet-32, 10 steps of 10 classes,
# 70 epochs each, K = 2000, the authors' class order (preset cifar100-paper), with the data on
# the GPU as uint8 (crop and flip there), bf16 autocast, channels_last, torch.compile and cuDNN
# autotuning. Prints a sync check, the accuracy table (NME = iCaRL, CNN = hybrid1), images/s
# of training, the bare network step's rate and the share of time outside it
# (benchmarks/gpu_cifar100.py says how each is measured).
#
#   benchmarks/gpu_cifar100.sh DATA [KEY=VALUE overrides...]
#
# DATA: cifar-100-python.tar.gz (or its folder), an .npz, or a folder holding the two parts of
# ../shared/data/cifar-100-webp.zip. Environment: DEVICE (cuda), EPOCHS (70), CPS (classes per
# step, 10), AMP (bf16), CHANNELS_LAST (true), COMPILE (auto: on for CUDA), CUDAGRAPHS (0; 1
# turns on inductor's CUDA graphs, not tried on a GPU yet), OUT (run folder, default
# runs/gpu-cifar100; one holding a checkpoint is resumed, a finished one refused), REHEARSE (1: a tiny CPU-sized run), PYTHON (python3).
# Needs torch with CUDA; icarl is imported from src/ (not installed).
#
# Getting the data onto a device machine, which receives at most 64 MiB per call: the lossless
# WebP zip (115 MB) goes in two parts of 55 MiB, in two calls close together (a machine stays
# warm about 30 s; ignored folders written there are kept while it is warm):
#   X=$(git rev-parse --git-path info/exclude); mkdir -p "${X%/*}"; echo /.gpudata/ >> "$X"
#   python benchmarks/cifar100_parts.py split ../shared/data/cifar-100-webp.zip .gpudata
#   call 1, carry [".gpudata/c100a"]:  nvidia-smi -L
#   call 2, carry [".gpudata/c100b"]:  PYTHONUNBUFFERED=1 benchmarks/gpu_cifar100.sh .gpudata
# (the parts are joined and decoded there on every core, pixels checked against their sha256).
# Or one call with a lossy JPEG-packed copy (`python -m icarl.tools.pack .gpudata/c100.npz
# --dataset cifar100 --data DIR/cifar-100-python.tar.gz --checksum off`), labelled as such.
# A call cut short by its time limit leaves the run's checkpoint in OUT: the same command with
# the same OUT resumes it.
#
# CPU rehearsal (every code path but the CUDA-only sync count; about 2-4 min on 2 shared cores):
#   OMP_NUM_THREADS=1 DEVICE=cpu AMP=off REHEARSE=1 benchmarks/gpu_cifar100.sh DIR/cifar-100-python.tar.gz
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: $0 DATA [KEY=VALUE ...]}
shift
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
ARGS=(--device "${DEVICE:-cuda}" --epochs "${EPOCHS:-70}" --classes-per-step "${CPS:-10}"
      --amp "${AMP:-bf16}" --channels-last "${CHANNELS_LAST:-true}" --compile "${COMPILE:-auto}")
[ "${CUDAGRAPHS:-0}" = 1 ] && ARGS+=(--cudagraphs)
[ "${REHEARSE:-0}" = 1 ] && ARGS+=(--rehearse)
[ -n "${OUT:-}" ] && ARGS+=(--out "$OUT")
exec "${PYTHON:-python3}" benchmarks/gpu_cifar100.py "$DATA" "${ARGS[@]}" "$@"
