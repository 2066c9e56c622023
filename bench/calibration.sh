#!/usr/bin/env bash
# Few-shot calibration on the cookies set (31 normal training images):
# the validation split against cross-conformal calibration (--calibration
# cv:5), padim on mobilenet_v2, at target FPR 5% and 10%. Prints per run
# the calibration, alpha, the number of calibration scores, the smallest
# reachable FPR, the threshold, and the FPR / TPR measured on the test set.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${DATA:-$ROOT/../shared/data/aws_lookout/cookies}
MODELS=${MODELS:-$ROOT/../shared/models}
WORK=${WORK:-/tmp/vigil-calib}
mkdir -p "$WORK"
VIGIL=$WORK/vigil
(cd "$ROOT" && go build -o "$VIGIL" ./cmd/vigil)
echo "calibration alpha n_calib min_fpr threshold test_fpr test_tpr   ($(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%F))"
for cal in split cv:5; do
	for a in 0.05 0.1; do
		m=$WORK/cookies-${cal/:/}-$a.safetensors
		fit=$("$VIGIL" fit --method padim --backbone mobilenet_v2 --backbone-dir "$MODELS/mobilenet_v2_1.0_224_quant" \
			--data "$DATA" --alpha "$a" --calibration "$cal" --out "$m" --quiet --json)
		test=$("$VIGIL" test --model "$m" --data "$DATA" --quiet --json)
		printf '%-6s %5s %4s %7.4f %9.4g %8.4f %8.4f\n' "$cal" "$a" \
			"$(jq .n_calibration_scores <<<"$fit")" "$(jq .min_reachable_fpr <<<"$fit")" "$(jq .threshold <<<"$fit")" \
			"$(jq .test_fpr <<<"$test")" "$(jq .test_tpr <<<"$test")"
	done
done
