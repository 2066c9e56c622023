#!/usr/bin/env bash
# Fashion-MNIST one-class benchmark: for each run, class k = 0..9 and seed,
# `vigil fit --idx --normal-class k` (class k of the 60k training split,
# minus the validation split used for calibration) and `vigil test` on the
# whole 10k test split (class k normal, the nine others anomalous). Prints
# per run a table: image AUROC per class (mean ± std over the seeds when
# there are several), the mean over classes ± the std over seeds of that
# mean, and the training seconds per class (fit_seconds of `vigil fit`:
# model fitting only, without decoding and calibration, wall clock) and the
# CPU seconds (user + system) of the whole `vigil fit` command.
#
# Usage: bench/fmnist.sh [-s SEEDS] [-c CLASSES] [-j JOBS] RUN ...
#   RUN      a name from `bench/fmnist.sh --list`, optionally followed by
#            =JSON merged over its config (e.g. 'deepsvdd={"train":{"epochs":50}}')
#   -s       seeds, comma-separated (default 1); the seed is passed to
#            `vigil fit --seed` and to the method's "seed" (or "train.seed")
#   -c       classes, comma-separated (default 0,...,9)
#   -j       fits run at once (default 1); each uses every core, so only
#            raise it on a machine with cores to spare
# Environment:
#   VIGIL    binary (default: built from this tree into $WORK/vigil)
#   IDX      folder with the four Fashion-MNIST IDX files, raw or .gz
#            (default /usr/share/datasets/fashion-mnist)
#   MODELS   backbone root for knn (default ../shared/models beside the repo)
#   WORK     scratch folder for models and logs (default /tmp/vigil-fmnist)
#   NICE     niceness of the fits and tests (default 5)
# Results are kept in $WORK/<run>/c<k>_s<seed>.{fit,test}.json (<run>@<hash>
# for a run with a JSON override); a run
# whose result exists is not redone (delete the folder to redo it), so an
# interrupted benchmark continues where it stopped.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
IDX=${IDX:-/usr/share/datasets/fashion-mnist}
MODELS=${MODELS:-$ROOT/../shared/models}
WORK=${WORK:-/tmp/vigil-fmnist}
NICE=${NICE:-5}
V2="--backbone mobilenet_v2 --backbone-dir $MODELS/mobilenet_v2_1.0_224_quant"

# name -> "method|extra fit flags|config JSON"
declare -A RUNS=(
	[svdd]="svdd||{\"size\":28}"
	[svdd-pca]="svdd||{\"size\":28,\"features\":\"pca\"}"
	[deepsvdd]="deepsvdd||{}"
	[deepsvdd-sb]="deepsvdd||{\"objective\":\"soft-boundary\"}"
	[knn]="knn|$V2|{}"
	[pcarecon]="pcarecon||{\"size\":28,\"patch\":7,\"stride\":3}"
	[geotrans]="geotrans||{\"size\":28}"
	[geotrans-prob]="geotrans||{\"size\":28,\"score\":\"mean_prob\"}"
)

if [[ ${1:-} == --list ]]; then
	for r in $(printf '%s\n' "${!RUNS[@]}" | sort); do
		IFS='|' read -r m f c <<<"${RUNS[$r]}"
		printf '%-12s %-9s %s %s\n' "$r" "$m" "$c" "$f"
	done
	exit 0
fi

SEEDS=1
CLASSES=0,1,2,3,4,5,6,7,8,9
JOBS=1
while getopts "s:c:j:" o; do
	case $o in
	s) SEEDS=$OPTARG ;;
	c) CLASSES=$OPTARG ;;
	j) JOBS=$OPTARG ;;
	*) echo "usage: $0 [-s SEEDS] [-c CLASSES] [-j JOBS] RUN ..." >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[[ $# -gt 0 ]] || { echo "usage: $0 [-s SEEDS] [-c CLASSES] [-j JOBS] RUN ... (--list names the runs)" >&2; exit 2; }
command -v jq >/dev/null || { echo "need jq" >&2; exit 2; }
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
	[[ -e $IDX/$f || -e $IDX/$f.gz ]] || { echo "missing $IDX/$f[.gz] (set IDX)" >&2; exit 2; }
done
mkdir -p "$WORK"
if [[ -z "${VIGIL:-}" ]]; then
	VIGIL=$WORK/vigil
	(cd "$ROOT" && go build -o "$VIGIL" ./cmd/vigil)
fi

# one RUN CLASS SEED: fit and test one model, leaving the two JSON files.
one() {
	local run=$1 k=$2 s=$3 spec=${4-} method flags cfg seedcfg dir
	IFS='|' read -r method flags cfg <<<"$spec"
	dir=$WORK/$run
	[[ -s $dir/c${k}_s$s.test.json ]] && return 0
	# The method's own seed key, if it has one.
	if "$VIGIL" methods "$method" | grep -qE '^seed '; then
		seedcfg="{\"seed\":$s}"
	elif "$VIGIL" methods "$method" | grep -qE '^train\.seed '; then
		seedcfg="{\"train\":{\"seed\":$s}}"
	else
		seedcfg="{}"
	fi
	cfg=$(jq -cn --argjson a "$cfg" --argjson b "$seedcfg" '$a * $b')
	# CPU seconds of the whole fit command (user + system), when GNU time is there:
	# on a shared machine they say more than the wall time.
	local timer=()
	[[ -x /usr/bin/time ]] && timer=(/usr/bin/time -f '%U %S' -o "$dir/c${k}_s$s.fit.cpu")
	# shellcheck disable=SC2086 # flags is a list of words
	if ! "${timer[@]}" nice -n "$NICE" "$VIGIL" fit --quiet --json --method "$method" $flags --config "$cfg" --seed "$s" \
		--idx "$IDX" --normal-class "$k" --out "$dir/c${k}_s$s.safetensors" >"$dir/c${k}_s$s.fit.json" 2>"$dir/c${k}_s$s.fit.log"; then
		echo "$run class $k seed $s: fit failed, see $dir/c${k}_s$s.fit.log" >&2
		return 1
	fi
	# The model records its backbone folder (absolute), so test needs no flags.
	if ! nice -n "$NICE" "$VIGIL" test --quiet --json --model "$dir/c${k}_s$s.safetensors" --idx "$IDX" >"$dir/c${k}_s$s.test.tmp" 2>"$dir/c${k}_s$s.test.log"; then
		echo "$run class $k seed $s: test failed, see $dir/c${k}_s$s.test.log" >&2
		return 1
	fi
	jq '{image_auroc, n_normal, n_anomalous, n_errors, seconds}' "$dir/c${k}_s$s.test.tmp" >"$dir/c${k}_s$s.test.json"
	# The model and the training checkpoints (vigil fit keeps them beside the model) are not kept.
	rm -rf "$dir/c${k}_s$s.test.tmp" "$dir/c${k}_s$s.safetensors" "$dir/c${k}_s$s.safetensors.ckpt"
	printf '%s class %s seed %s: AUROC %.4f, fit %.1f s\n' "$run" "$k" "$s" \
		"$(jq .image_auroc "$dir/c${k}_s$s.test.json")" "$(jq .fit_seconds "$dir/c${k}_s$s.fit.json")" >&2
}
export -f one
export VIGIL IDX WORK NICE

# report RUN: the table from the JSON files.
report() {
	local run=$1 dir=$WORK/$1
	{
		for k in ${CLASSES//,/ }; do
			for s in ${SEEDS//,/ }; do
				[[ -s $dir/c${k}_s$s.test.json ]] || continue
				cpu=-1
				[[ -s $dir/c${k}_s$s.fit.cpu ]] && cpu=$(awk '{print $1 + $2}' "$dir/c${k}_s$s.fit.cpu")
				printf '%s %s %s %s %s\n' "$k" "$s" "$(jq .image_auroc "$dir/c${k}_s$s.test.json")" "$(jq .fit_seconds "$dir/c${k}_s$s.fit.json")" "$cpu"
			done
		done
	} | awk -v run="$run" -v cfg="${RUNS_CFG[$run]}" '
		function sd(sum, sq, n) { return n > 1 ? sqrt((sq - sum * sum / n) / (n - 1)) : 0 }
		{ k = $1; s = $2; a = $3; t = $4
		  if (!(k in seen)) { order[++nk] = k; seen[k] = 1 }
		  if (!(s in sseen)) { sorder[++ns] = s; sseen[s] = 1 }
		  auc[k, s] = a; ka[k] += a; kq[k] += a * a; kn[k]++
		  sa[s] += a; sn[s]++; tt += t; tn++; if ($5 >= 0) { ct += $5; cn++ } }
		END {
		  printf "\n%s  %s\n", run, cfg
		  printf "%-6s %-16s %s\n", "class", "AUROC", "per seed"
		  for (i = 1; i <= nk; i++) { k = order[i]; line = ""
		    for (j = 1; j <= ns; j++) line = line sprintf(" %s", ((k, sorder[j]) in auc) ? sprintf("%.4f", auc[k, sorder[j]]) : "-")
		    printf "%-6s %.4f ± %.4f  %s\n", k, ka[k] / kn[k], sd(ka[k], kq[k], kn[k]), line }
		  # mean over classes per seed (only seeds with every class), then mean ± std over seeds
		  m = 0; q = 0; c = 0
		  for (j = 1; j <= ns; j++) { s = sorder[j]; if (sn[s] < nk) continue; v = sa[s] / sn[s]; m += v; q += v * v; c++ }
		  if (c > 0) printf "mean   %.4f ± %.4f  (%d classes, %d complete seeds)\n", m / c, sd(m, q, c), nk, c
		  if (tn > 0) printf "fit    %.1f s per class (mean of %d fits)", tt / tn, tn
		  if (cn > 0) printf "; whole vigil fit: %.1f CPU s per class", ct / cn
		  if (tn > 0) printf "\n"
		}'
}

# runkey RUN[=JSON]: the results folder's name; an override gets its own
# (run@hash of the JSON), so it never reuses the plain run's results.
runkey() {
	if [[ $1 == *=* ]]; then
		printf '%s@%s' "${1%%=*}" "$(printf '%s' "${1#*=}" | sha256sum | cut -c1-8)"
	else
		printf '%s' "$1"
	fi
}

declare -A RUNS_CFG RUNS_SPEC
for arg in "$@"; do
	run=${arg%%=*}
	[[ -n ${RUNS[$run]:-} ]] || { echo "unknown run $run (bench/fmnist.sh --list)" >&2; exit 2; }
	IFS='|' read -r method flags cfg <<<"${RUNS[$run]}"
	if [[ $arg == *=* ]]; then
		cfg=$(jq -cn --argjson a "$cfg" --argjson b "${arg#*=}" '$a * $b')
	fi
	key=$(runkey "$arg")
	RUNS_CFG[$key]="$method $flags $cfg"
	RUNS_SPEC[$key]="$method|$flags|$cfg"
	mkdir -p "$WORK/$key"
done
# Seed-major, then class, then run: an interrupted benchmark has whole
# seeds, and every run advances together.
jobs=()
for s in ${SEEDS//,/ }; do
	for k in ${CLASSES//,/ }; do
		for arg in "$@"; do
			key=$(runkey "$arg")
			jobs+=("$key" "$k" "$s" "${RUNS_SPEC[$key]}")
		done
	done
done
status=0
printf '%s\0' "${jobs[@]}" | xargs -0 -n 4 -P "$JOBS" bash -c 'one "$@"' _ || status=$?
for arg in "$@"; do
	report "$(runkey "$arg")"
done
exit $status
