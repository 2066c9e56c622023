#!/usr/bin/env bash
# Runs Vigil's detectors on the real inspection data sets and prints one
# line per run: image AUROC, pixel AUROC, AUPRO, test FPR at the 1% target,
# fit seconds (wall, whole `vigil fit`), per-image scoring ms (from `vigil
# test`), peak RSS of fit and test, and model file size.
#
# Usage: bench/realdata.sh [RUN ...]
#   RUN is dataset:name as listed by `bench/realdata.sh --list`, optionally
#   followed by =JSON to override config fields for that run (for example
#   'mt:padim={"dim":200}'); with no arguments every run is done.
#   Environment:
#   VIGIL      binary (default: built from this tree into $WORK/vigil)
#   DATA       data root (default ../shared/data beside the repo)
#   MODELS     backbone root (default ../shared/models beside the repo)
#   WORK       scratch folder for models and logs (default /tmp/vigil-bench)
#   EXTRA      extra JSON merged into every --config (e.g. '{"batch":4}')
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${DATA:-$ROOT/../shared/data}
MODELS=${MODELS:-$ROOT/../shared/models}
WORK=${WORK:-/tmp/vigil-bench}
mkdir -p "$WORK"
if [[ -z "${VIGIL:-}" ]]; then
	VIGIL=$WORK/vigil
	(cd "$ROOT" && go build -o "$VIGIL" ./cmd/vigil)
fi
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "need GNU time at /usr/bin/time (apt-get install -y time)" >&2; exit 2; }
command -v jq >/dev/null || { echo "need jq" >&2; exit 2; }

declare -A DS=(
	[mt]=$DATA/magnetic_tile/mt
	[cookies]=$DATA/aws_lookout/cookies
)
V2="--backbone mobilenet_v2 --backbone-dir $MODELS/mobilenet_v2_1.0_224_quant"
R50="--backbone resnet50"   # converted once by vigil backbone pull resnet50, in the default cache
V1="--backbone mobilenet_v1 --backbone-dir $MODELS/mobilenet_v1_1.0_224_quant_embedding_extractor"

# name -> "method|backbone flags|config JSON". Every run uses the method's
# defaults except where the config says otherwise.
declare -A RUNS=(
	[pcarecon]="pcarecon||{}"
	[knn]="knn|$V2|{}"
	[knn-patch]="knn|$V2|{\"mode\":\"patch\"}"
	[padim]="padim|$V2|{}"
	[patchcore]="patchcore|$V2|{}"
	[knn-v1]="knn|$V1|{}"
	[knn-patch-v1]="knn|$V1|{\"mode\":\"patch\"}"
	[padim-v1]="padim|$V1|{}"
	[patchcore-v1]="patchcore|$V1|{}"
	[knn-patch-r50]="knn|$R50|{\"mode\":\"patch\"}"
	[padim-r50]="padim|$R50|{}"
	[patchcore-r50]="patchcore|$R50|{}"
	[padim-tile128]="padim|$V2 --tile 128 --overlap 32|{\"size\":128}"
	[padim-tile192]="padim|$V2 --tile 192 --overlap 48|{\"size\":192}"
	[patchcore-tile128]="patchcore|$V2 --tile 128 --overlap 32|{\"size\":128}"
	[ae]="ae||{}"
	[ae-l2]="ae||{\"loss\":\"l2\"}"
	[ae-ssim]="ae||{\"loss\":\"ssim\"}"
	[ae-msssim]="ae||{\"loss\":\"msssim\"}"
	[ae-cwssim]="ae||{\"loss\":\"cwssim\"}"
	[aegmm]="aegmm||{}"
	[dagmm]="dagmm||{}"
	[riad]="riad||{}"
	[students]="students|$R50|{}"
	[students-v2]="students|$V2|{}"
)
# The default set (every method with its defaults); the -v1 runs are the
# same methods on MobileNetV1, run by name.
ORDER=(pcarecon knn knn-patch padim patchcore)
EXTRA_RUNS=(knn-v1 knn-patch-v1 padim-v1 patchcore-v1 knn-patch-r50 padim-r50 patchcore-r50 padim-tile128 padim-tile192 patchcore-tile128
	ae ae-l2 ae-ssim ae-msssim ae-cwssim aegmm dagmm riad students students-v2)

if [[ "${1:-}" == "--list" ]]; then
	for d in mt cookies; do for r in "${ORDER[@]}" "${EXTRA_RUNS[@]}"; do echo "$d:$r"; done; done
	exit 0
fi
todo=("$@")
if [[ ${#todo[@]} -eq 0 ]]; then
	for d in mt cookies; do for r in "${ORDER[@]}"; do todo+=("$d:$r"); done; done
fi

rss_mib() { awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$1"; }
wall_s() { awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.1f", s}' "$1"; }

printf "%-9s %-10s %7s %7s %7s %7s %7s %8s %8s %8s %9s\n" dataset run img_auc pix_auc aupro test_fpr fit_s ms/img fit_MiB test_MiB model_MiB
for item in "${todo[@]}"; do
	cfg_override=
	[[ $item == *=* ]] && cfg_override=${item#*=}
	IFS=: read -r d name <<<"${item%%=*}"
	spec=${RUNS[$name]:-}
	[[ -n $spec ]] || { echo "unknown run $name" >&2; exit 2; }
	IFS='|' read -r method bb cfg <<<"$spec"
	[[ -n $cfg_override ]] && cfg=$(jq -cn --argjson a "$cfg" --argjson b "$cfg_override" '$a+$b')
	[[ -n ${EXTRA:-} ]] && cfg=$(jq -cn --argjson a "$cfg" --argjson b "$EXTRA" '$a+$b')
	tag=$d-$name
	[[ -n $cfg_override ]] && tag=$tag-$(echo "$cfg_override" | tr -cd 'A-Za-z0-9_.,' | tr ',' '_')
	model=$WORK/$tag.safetensors
	log=$WORK/$tag
	# shellcheck disable=SC2086
	cmd=("$VIGIL" fit --method "$method" $bb --data "${DS[$d]}" --config "$cfg" --out "$model" --quiet --json)
	echo "# ${cmd[*]}" >"$log.cmd"
	$TIME -v "${cmd[@]}" >"$log.fit.json" 2>"$log.fit.time" || { echo "$d $name: fit failed, see $log.fit.time" >&2; continue; }
	$TIME -v "$VIGIL" test --model "$model" --data "${DS[$d]}" --json --quiet >"$log.test.json" 2>"$log.test.time" || { echo "$d $name: test failed, see $log.test.time" >&2; continue; }
	j=$log.test.json
	printf "%-9s %-10s %7.4f %7s %7s %7.3f %7s %8.1f %8s %8s %9.1f\n" "$d" "$name" \
		"$(jq .image_auroc "$j")" \
		"$(jq -r 'if .pixel_auroc then (.pixel_auroc*10000|round/10000|tostring) else "-" end' "$j")" \
		"$(jq -r 'if .aupro then (.aupro*10000|round/10000|tostring) else "-" end' "$j")" \
		"$(jq .test_fpr "$j")" \
		"$(wall_s "$log.fit.time")" \
		"$(jq .ms_per_image "$j")" \
		"$(rss_mib "$log.fit.time")" "$(rss_mib "$log.test.time")" \
		"$(echo "$(stat -c %s "$model") / 1048576" | bc -l)"
	if [[ -n $cfg_override ]]; then echo "#   config $cfg"; fi
done
