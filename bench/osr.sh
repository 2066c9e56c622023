#!/usr/bin/env bash
# Open-set recognition on Fashion-MNIST: classes 0-5 known (T-shirt,
# trouser, pullover, dress, coat, sandal), 6-9 unknown (shirt, sneaker,
# bag, ankle boot). Trains `vigil classify fit` on the known classes of the
# 60k training split (10% of each held out for the threshold), tests on the
# whole 10k test split and prints the JSON report (closed-set accuracy,
# known-vs-unknown AUROC of msp / maxlogit / energy, threshold, FPR and TPR
# at it) followed by the fit's wall and CPU seconds and peak RSS.
#
# Usage: bench/osr.sh [SEED ...]   (default: 1)
#   Environment:
#   VIGIL   binary (default: built from this tree into $WORK/vigil)
#   IDX     Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist)
#   WORK    scratch folder (default /tmp/vigil-osr)
#   CONFIG  JSON over the defaults; "train.seed" and "seed" are set per SEED
#           (default: '{"widen":1,"train":{"epochs":3}}')
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
IDX=${IDX:-/usr/share/datasets/fashion-mnist}
WORK=${WORK:-/tmp/vigil-osr}
CONFIG=${CONFIG:-'{"widen":1,"train":{"epochs":3}}'}
mkdir -p "$WORK"
if [[ -z "${VIGIL:-}" ]]; then
	VIGIL=$WORK/vigil
	(cd "$ROOT" && go build -o "$VIGIL" ./cmd/vigil)
fi
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "need GNU time at /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
command -v jq >/dev/null || { echo "need jq" >&2; exit 2; }

seeds=("$@")
[[ ${#seeds[@]} -gt 0 ]] || seeds=(1)
for s in "${seeds[@]}"; do
	cfg=$(jq -c --argjson s "$s" '.seed = $s | .train.seed = $s' <<<"$CONFIG")
	model=$WORK/osr-seed$s.safetensors
	$TIME -f '%e %U %S %M' -o "$WORK/fit-seed$s.time" \
		nice -n 5 "$VIGIL" classify fit --idx "$IDX" --known 0,1,2,3,4,5 --out "$model" --config "$cfg" 2> "$WORK/fit-seed$s.log"
	read -r wall user sys rss < "$WORK/fit-seed$s.time"
	nice -n 5 "$VIGIL" classify test --model "$model" --idx "$IDX" --json |
		jq -c --arg seed "$s" --arg wall "$wall" --arg cpu "$(echo "$user + $sys" | bc)" --arg rss "$rss" \
			'{seed: ($seed|tonumber)} + . + {fit_wall_s: ($wall|tonumber), fit_cpu_s: ($cpu|tonumber), fit_peak_rss_kib: ($rss|tonumber)}'
done
