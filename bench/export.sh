#!/usr/bin/env bash
# ONNX export agreement and speed: fits padim and patchcore (mobilenet_v2
# backbone) and pcarecon on the cookies set, exports each with `vigil export`, scores
# every cookies test image with the model itself (`vigil predict --json`,
# the scores `vigil test` computes), with Vigil's executor on the exported
# file and with ONNX Runtime (onnxruntime-node) on it, from inputs prepared
# as the file's vigil.preprocess metadata says (bench/export_test.go writes
# them), and prints per method the largest relative score differences and
# ms per image.
#
# Usage: bench/export.sh [METHOD ...]    (default: padim patchcore pcarecon)
#   Environment:
#   VIGIL      binary (default: built from this tree into $WORK/vigil)
#   DATA       data root (default ../shared/data beside the repo)
#   MODELS     backbone root (default ../shared/models beside the repo)
#   WORK       scratch folder (default /tmp/vigil-export-bench)
#   THREADS    ONNX Runtime intra-op threads (default 2)
#   CONFIG     extra JSON for every --config (default {})
#   SET        data set folder (default $DATA/aws_lookout/cookies)
# ae and aegmm keep each image's aspect ratio, which the fixed-size graph
# cannot: their Detector.Score column scores the prepared square input.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${DATA:-$ROOT/../shared/data}
MODELS=${MODELS:-$ROOT/../shared/models}
WORK=${WORK:-/tmp/vigil-export-bench}
THREADS=${THREADS:-2}
CONFIG=${CONFIG:-'{}'}
SET=${SET:-$DATA/aws_lookout/cookies}
BB=$MODELS/mobilenet_v2_1.0_224_quant
mkdir -p "$WORK"
if [[ -z "${VIGIL:-}" ]]; then
	VIGIL=$WORK/vigil
	(cd "$ROOT" && go build -o "$VIGIL" ./cmd/vigil)
fi
export VIGIL_ORT_DIR=${VIGIL_ORT_DIR:-/tmp/vigil-ort}
"$ROOT/../shared/bench/ort/setup.sh" >/dev/null

methods=("$@")
[[ ${#methods[@]} -gt 0 ]] || methods=(padim patchcore pcarecon)
echo "# $(date -u +%FT%TZ) commit $(cd "$ROOT" && git rev-parse --short HEAD) load $(cut -d' ' -f1-3 /proc/loadavg) threads $THREADS"
for m in "${methods[@]}"; do
	d=$WORK/$m
	rm -rf "$d" && mkdir -p "$d"
	bbflag=(--backbone-dir "$BB")
	prep=()
	case $m in pcarecon | ae | aegmm | dagmm | riad | deepsvdd | svdd | geotrans) bbflag=() ;; esac # no backbone: fit refuses the flag
	case $m in ae | aegmm) prep=(VIGIL_EXPORT_SCORE_PREPARED=1) ;; esac
	"$VIGIL" fit --quiet --method "$m" "${bbflag[@]}" --config "$CONFIG" --data "$SET" --out "$d/model.safetensors" >"$d/fit.log"
	"$VIGIL" export --model "$d/model.safetensors" --backbone-dir "$BB" --out "$d/model.onnx" >"$d/export.log"
	"$VIGIL" predict --quiet --json --model "$d/model.safetensors" --backbone-dir "$BB" --out "$d/predict" "$SET/test" >"$d/predict.jsonl"
	(cd "$ROOT" && env "${prep[@]}" VIGIL_EXPORT_PREP=$d/prep VIGIL_EXPORT_MODEL=$d/model.safetensors VIGIL_EXPORT_BACKBONE_DIR=$BB \
		VIGIL_EXPORT_ONNX=$d/model.onnx VIGIL_EXPORT_IMAGES=$SET/test \
		go test ./bench -run '^TestExportInputs$' -count=1 -v -timeout 60m) >"$d/go.log"
	vigil_line=$(grep -o "$m: [0-9]* images.*" "$d/go.log")
	ort_line=$(node "$ROOT/bench/export_ort.js" "$d/model.onnx" "$d/prep" --threads "$THREADS" --predict "$d/predict.jsonl")
	echo "$m onnx $(du -m "$d/model.onnx" | cut -f1) MB | $vigil_line | $ort_line"
done
