#!/usr/bin/env bash
# The main job: load the pretrained Partial G-CNN preset
# p4cnn_partial_mnist6_180, evaluate it, fine-tune it for 2 epochs with
# model.fit on the embedded MNIST6-180 data, print the before/after table and
# the learned equivariance per layer, and save the plots in outputs/main_job/.
# Set KERAS_BACKEND to pick the backend (default tensorflow); extra
# arguments go to `relaxed-keras finetune`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/setup_env.sh"
cd "$ROOT"
KERAS_BACKEND="${KERAS_BACKEND:-tensorflow}" "$PY" -m relaxed_keras finetune \
    p4cnn_partial_mnist6_180 --epochs 2 --output outputs/main_job "$@"
