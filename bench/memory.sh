#!/usr/bin/env bash
# Peak memory of `vigil test` and `vigil predict` against the number of
# images (issue 7: memory bounded by the model and a batch, not by the
# dataset). Generates synthetic 1130x460 inspection images (bench/synth),
# fits padim on mobilenet_v2 once, then prints one line per run:
#   command images peak_rss_MiB seconds
#
# Usage: bench/memory.sh            (test on 100 and 1000, predict on 200 and 2000)
#        ONLY=predict bench/memory.sh   (or ONLY=test)
#   Environment: WORK (scratch, default /tmp/vigil-mem), MODELS (backbones,
#   default ../shared/models), W/H (image size, default 1130x460).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/tmp/vigil-mem}
MODELS=${MODELS:-$ROOT/../shared/models}
W=${W:-1130}
H=${H:-460}
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "need GNU time at /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
mkdir -p "$WORK"
VIGIL=$WORK/vigil
(cd "$ROOT" && go build -o "$VIGIL" ./cmd/vigil)

gen() { # name train test
	[[ -d $WORK/$1 ]] || (cd "$ROOT" && go run ./bench/synth -out "$WORK/$1" -train "$2" -test "$3" -w "$W" -h "$H")
}
gen d100 100 100
gen d1000 100 1000
gen p2000 1 2000

run() { # label images cmd...
	local label=$1 n=$2
	shift 2
	local t0 t1
	t0=$(date +%s.%N)
	$TIME -f '%M' -o "$WORK/rss" "$@" >"$WORK/out" 2>"$WORK/err" || { echo "$label failed:"; tail -5 "$WORK/err"; return 1; }
	t1=$(date +%s.%N)
	printf '%-8s %6d %8.0f %8.1f\n' "$label" "$n" "$(($(tail -1 "$WORK/rss") / 1024))" "$(echo "$t1 - $t0" | bc)"
}

MODEL=$WORK/padim.safetensors
[[ -f $MODEL ]] || "$VIGIL" fit --method padim --backbone mobilenet_v2 --backbone-dir "$MODELS/mobilenet_v2_1.0_224_quant" \
	--data "$WORK/d100" --out "$MODEL" --quiet >/dev/null
echo "command  images peak_MiB  seconds   ($(git -C "$ROOT" rev-parse --short HEAD), $(date -u +%F), ${W}x${H}, padim mobilenet_v2)"
[[ ${ONLY:-} == predict ]] || run test 100 "$VIGIL" test --model "$MODEL" --data "$WORK/d100" --quiet --json
[[ ${ONLY:-} == predict ]] || run test 1000 "$VIGIL" test --model "$MODEL" --data "$WORK/d1000" --quiet --json
mkdir -p "$WORK/p200"
good=("$WORK"/p2000/test/good/*.jpg)
blob=("$WORK"/p2000/test/blob/*.jpg)
for f in "${good[@]:0:100}" "${blob[@]:0:100}"; do ln -sf "$f" "$WORK/p200/$(basename "$(dirname "$f")")_$(basename "$f")"; done
[[ ${ONLY:-} == test ]] && exit 0
run predict 200 "$VIGIL" predict --model "$MODEL" --out "$WORK/pred200" --quiet --json "$WORK/p200"
run predict 2000 "$VIGIL" predict --model "$MODEL" --out "$WORK/pred2000" --quiet --json "$WORK/p2000/test"
