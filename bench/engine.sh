#!/usr/bin/env bash
# Engine benchmark against this machine's anchors, all in one run so the
# ratios compare like with like on a shared, noisy machine:
#   fp32 peak (shared/bench/peak), Vigil's `bench engine`, ONNX Runtime on the
#   very ONNX files Vigil exported and timed, oneDNN conv and AE-step anchors.
# Usage: bench/engine.sh [SHARED_DIR]   (default: ../shared beside the repo)
# Prints the raw lines, then a summary of ratios. Needs node+npm (ORT) and
# apt (libdnnl-dev) the first time; the shared scripts install them.
#
# Rounds mode: bench/engine.sh --rounds N [--runs R] [--threads "1 2"]
#                              [--cases "resnet18_b1 resnet50_b1 ae_step_b16"] [SHARED_DIR]
# For each thread count T, N interleaved rounds of Vigil (GOMAXPROCS=T: the
# engine's workers follow GOMAXPROCS) then its anchor at T threads, R runs
# each (default 60: this VM alternates fast and ~3x slow phases, and ORT
# needs that many to show its minimum): ResNet-18 and ResNet-50 at
# 1x3x224x224 against ONNX Runtime (--threads T) on the very ONNX files
# Vigil wrote and timed that round (goal <= 1.0), and the autoencoder
# training step against oneDNN's whole-autoencoder anchor
# (OMP_NUM_THREADS=T ae-step.sh -r R: the min_ms of its
# onednn_ae_full_step_ms line, the sum of each pass's minimum; goal <= 1.5).
# Prints each round's minimum, then the minimum over rounds and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=0 runs=60 threads="1 2" cases="resnet18_b1 resnet50_b1 ae_step_b16"
while [[ $# -gt 0 ]]; do
	case $1 in
	--rounds) rounds=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--cases) cases=$2; shift 2 ;;
	*) break ;;
	esac
done
shared=${1:-../shared}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

go build -o "$out/vigil" ./cmd/vigil
echo "# commit $(git rev-parse --short HEAD) $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cpus"

if [[ $rounds -gt 0 ]]; then
	minms() { awk -v c="$1" -F'[:,}]' '$0 ~ "\""c"\"" {for (i=1;i<=NF;i++) if ($i ~ /"min_ms"/) print $(i+1)}' "$2"; }
	for t in $threads; do
		for r in $(seq "$rounds"); do
			GOMAXPROCS=$t "$out/vigil" bench engine --json --cases "$(tr -s ' ' ',' <<<"$cases")" --runs "$runs" --write-onnx "$out/onnx" >"$out/v.jsonl"
			for m in $cases; do
				v=$(minms "$m" "$out/v.jsonl")
				if [[ $m == ae_step_b16 ]]; then
					# the whole-autoencoder anchor: sum of each pass's minimum
					o=$(OMP_NUM_THREADS=$t bash "$shared/bench/onednn/ae-step.sh" -r "$runs" | awk '/onednn_ae_full_step_ms/ {for (i=1;i<NF;i++) if ($i=="min_ms") print $(i+1)}')
					echo "round $r threads $t $m vigil_min_ms $v onednn_min_ms $o" | tee -a "$out/rounds.txt"
					continue
				fi
				o=$(bash "$shared/bench/ort/run.sh" "$out/onnx/$m.onnx" --input input:1x3x224x224 --threads "$t" --runs "$runs" --warmup 5 | awk '/ort_ms_min/ {print $4}')
				echo "round $r threads $t $m vigil_min_ms $v ort_min_ms $o" | tee -a "$out/rounds.txt"
			done
		done
	done
	echo
	echo "summary: minimum over $rounds rounds of $runs runs (goals: vigil/ORT <= 1.0, ae_step_b16 vigil/oneDNN <= 1.5)"
	awk '{k=$5" threads "$4; a[k]=($8=="onednn_min_ms") ? "oneDNN" : "ORT"; if (!(k in v) || $7<v[k]) v[k]=$7; if (!(k in o) || $9<o[k]) o[k]=$9}
		END {for (k in v) printf "%-22s vigil %7.2f ms  %-6s %7.2f ms  ratio %.2f\n", k, v[k], a[k], o[k], v[k]/o[k]}' "$out/rounds.txt" | sort
	exit 0
fi

peak=$(bash "$shared/bench/peak/run.sh" | awk '/peak_gflops_fp32/ {print $2}')
echo "peak_gflops_fp32 $peak"

"$out/vigil" bench engine --json --write-onnx "$out/onnx" --runs 30 | tee "$out/vigil.jsonl"

ort() { bash "$shared/bench/ort/run.sh" "$@" --threads 2 --runs 30 --warmup 5 | awk '/ort_ms_median/ {print $2}'; }
ort_resnet=$(ort "$out/onnx/resnet18_b1.onnx" --input input:1x3x224x224)
ort_b1=$(ort "$out/onnx/conv3x3_b1.onnx")
ort_b8=$(ort "$out/onnx/conv3x3_b8.onnx")
echo "ort_ms resnet18_b1 $ort_resnet conv3x3_b1 $ort_b1 conv3x3_b8 $ort_b8"

# The whole-autoencoder anchor (encoder convs and the decoder's transposed
# convs), the sum of each pass's minimum, compared with Vigil's minimum.
dnnl_step=$(bash "$shared/bench/onednn/ae-step.sh" | awk '/onednn_ae_full_step_ms/ {for (i=1;i<NF;i++) if ($i=="min_ms") print $(i+1)}')
echo "onednn_ae_full_step_min_ms $dnnl_step"

ms() { awk -v c="$1" -F'[:,}]' '$0 ~ "\""c"\"" {for (i=1;i<=NF;i++) if ($i ~ /"ms"/) print $(i+1)}' "$out/vigil.jsonl"; }
gf() { awk -v c="$1" -F'[:,}]' '$0 ~ "\""c"\"" {for (i=1;i<=NF;i++) if ($i ~ /"gflops"/) print $(i+1)}' "$out/vigil.jsonl"; }
echo
echo "summary (goal in brackets)"
awk -v g="$(gf sgemm_1024)" -v p="$peak" 'BEGIN {printf "sgemm_1024    %.1f GFLOP/s = %.2f of peak [>= 0.75]\n", g, g/p}'
awk -v g="$(gf sgemm_im2col)" -v p="$peak" 'BEGIN {printf "sgemm_im2col  %.1f GFLOP/s = %.2f of peak [>= 0.60]\n", g, g/p}'
awk -v v="$(ms resnet18_b1)" -v o="$ort_resnet" 'BEGIN {printf "resnet18_b1   vigil %.2f ms / ORT %.2f ms = %.2f [<= 1.0]\n", v, o, v/o}'
awk -v v="$(ms conv3x3_b1)" -v o="$ort_b1" 'BEGIN {printf "conv3x3_b1    vigil %.3f ms / ORT %.3f ms = %.2f [<= 1.0]\n", v, o, v/o}'
awk -v v="$(ms conv3x3_b8)" -v o="$ort_b8" 'BEGIN {printf "conv3x3_b8    vigil %.3f ms / ORT %.3f ms = %.2f [<= 1.0]\n", v, o, v/o}'
mn() { awk -v c="$1" -F'[:,}]' '$0 ~ "\""c"\"" {for (i=1;i<=NF;i++) if ($i ~ /"min_ms"/) print $(i+1)}' "$out/vigil.jsonl"; }
awk -v v="$(mn ae_step_b16)" -v o="$dnnl_step" 'BEGIN {printf "ae_step_b16   vigil min %.2f ms / oneDNN full-step min %.2f ms = %.2f [<= 1.5]\n", v, o, v/o}'
