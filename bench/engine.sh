#!/usr/bin/env bash
# Engine benchmark against this machine's anchors, all in one run so the
# ratios compare like with like on a shared, noisy machine:
#   fp32 peak (shared/bench/peak), Vigil's `bench engine`, ONNX Runtime on the
#   very ONNX files Vigil exported and timed, oneDNN conv and AE-step anchors.
# Usage: bench/engine.sh [SHARED_DIR]   (default: ../shared beside the repo)
# Prints the raw lines, then a summary of ratios. Needs node+npm (ORT) and
# apt (libdnnl-dev) the first time; the shared scripts install them.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-../shared}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

go build -o "$out/vigil" ./cmd/vigil
echo "# commit $(git rev-parse --short HEAD) $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cpus"

peak=$(bash "$shared/bench/peak/run.sh" | awk '/peak_gflops_fp32/ {print $2}')
echo "peak_gflops_fp32 $peak"

"$out/vigil" bench engine --json --write-onnx "$out/onnx" --runs 30 | tee "$out/vigil.jsonl"

ort() { bash "$shared/bench/ort/run.sh" "$@" --threads 2 --runs 30 --warmup 5 | awk '/ort_ms_median/ {print $2}'; }
ort_resnet=$(ort "$out/onnx/resnet18_b1.onnx" --input input:1x3x224x224)
ort_b1=$(ort "$out/onnx/conv3x3_b1.onnx")
ort_b8=$(ort "$out/onnx/conv3x3_b8.onnx")
echo "ort_ms resnet18_b1 $ort_resnet conv3x3_b1 $ort_b1 conv3x3_b8 $ort_b8"

dnnl_step=$(bash "$shared/bench/onednn/ae-step.sh" | awk '/onednn_ae_step_ms/ {print $2}')
echo "onednn_ae_step_ms $dnnl_step"

ms() { awk -v c="$1" -F'[:,}]' '$0 ~ "\""c"\"" {for (i=1;i<=NF;i++) if ($i ~ /"ms"/) print $(i+1)}' "$out/vigil.jsonl"; }
gf() { awk -v c="$1" -F'[:,}]' '$0 ~ "\""c"\"" {for (i=1;i<=NF;i++) if ($i ~ /"gflops"/) print $(i+1)}' "$out/vigil.jsonl"; }
echo
echo "summary (goal in brackets)"
awk -v g="$(gf sgemm_1024)" -v p="$peak" 'BEGIN {printf "sgemm_1024    %.1f GFLOP/s = %.2f of peak [>= 0.75]\n", g, g/p}'
awk -v g="$(gf sgemm_im2col)" -v p="$peak" 'BEGIN {printf "sgemm_im2col  %.1f GFLOP/s = %.2f of peak [>= 0.60]\n", g, g/p}'
awk -v v="$(ms resnet18_b1)" -v o="$ort_resnet" 'BEGIN {printf "resnet18_b1   vigil %.2f ms / ORT %.2f ms = %.2f [<= 1.0]\n", v, o, v/o}'
awk -v v="$(ms conv3x3_b1)" -v o="$ort_b1" 'BEGIN {printf "conv3x3_b1    vigil %.3f ms / ORT %.3f ms = %.2f [<= 1.0]\n", v, o, v/o}'
awk -v v="$(ms conv3x3_b8)" -v o="$ort_b8" 'BEGIN {printf "conv3x3_b8    vigil %.3f ms / ORT %.3f ms = %.2f [<= 1.0]\n", v, o, v/o}'
awk -v v="$(ms ae_step_b16)" -v o="$dnnl_step" 'BEGIN {printf "ae_step_b16   vigil %.2f ms / oneDNN %.2f ms = %.2f [<= 1.5]\n", v, o, v/o}'
