#!/usr/bin/env node
// usage: node export_ort.js MODEL.onnx PREP_DIR [--threads N] [--predict PREDICT.jsonl]
// Scores the inputs that TestExportInputs wrote to PREP_DIR (raw float32
// [1,3,S,S] files listed in index.tsv) with ONNX Runtime (onnxruntime-node
// from $VIGIL_ORT_DIR, see ../shared/bench/ort/setup.sh; CPU, graph
// optimisation "all") and prints one line:
//   ort_ms_per_image X max_rel_vs_score Y max_rel_vs_predict Z images N threads T
// max_rel_vs_score compares with the model's own Detector.Score (index.tsv);
// max_rel_vs_predict with the scores `vigil predict --json` printed, matched
// by image path. The first image is not timed (session warm-up).
'use strict';
const fs = require('fs');
const path = require('path');

function die(msg) {
  process.stderr.write(`export_ort: ${msg}\n`);
  process.exit(2);
}

async function main() {
  const args = process.argv.slice(2);
  let threads = 2;
  let predict = null;
  const pos = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--threads') threads = Number(args[++i]);
    else if (args[i] === '--predict') predict = args[++i];
    else pos.push(args[i]);
  }
  if (pos.length !== 2 || !(threads >= 1)) die('usage: export_ort.js MODEL.onnx PREP_DIR [--threads N] [--predict FILE]');
  const [model, dir] = pos;
  const ortDir = process.env.VIGIL_ORT_DIR || '/tmp/vigil-ort';
  let ort;
  try {
    ort = require(path.join(ortDir, 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    die(`cannot load onnxruntime-node from ${ortDir} (run ../shared/bench/ort/setup.sh): ${e.message}`);
  }
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const want = {};
  if (predict) {
    for (const line of fs.readFileSync(predict, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const r = JSON.parse(line);
      if (r.score !== null && r.score !== undefined) want[path.resolve(r.path)] = r.score;
    }
  }
  const rows = fs.readFileSync(path.join(dir, 'index.tsv'), 'utf8').trim().split('\n').map((l) => l.split('\t'));
  let ms = 0;
  let relScore = 0;
  let relPredict = 0;
  let matched = 0;
  for (let i = 0; i < rows.length; i++) {
    const [raw, img, score] = rows[i];
    const buf = fs.readFileSync(path.join(dir, raw));
    const data = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    const side = Math.round(Math.sqrt(data.length / 3));
    if (3 * side * side !== data.length) die(`${raw}: ${data.length} values are not 3 square planes`);
    const t0 = process.hrtime.bigint();
    const out = await session.run({ image: new ort.Tensor('float32', data, [1, 3, side, side]) });
    const t1 = process.hrtime.bigint();
    if (i > 0) ms += Number(t1 - t0) / 1e6;
    const got = out.score.data[0];
    if (!Number.isFinite(got)) die(`${img}: ONNX Runtime score ${got}`);
    relScore = Math.max(relScore, Math.abs(got - Number(score)) / Math.abs(Number(score)));
    const p = want[path.resolve(img)];
    if (p !== undefined) {
      relPredict = Math.max(relPredict, Math.abs(got - p) / Math.abs(p));
      matched++;
    }
  }
  if (predict && matched !== rows.length) die(`only ${matched} of ${rows.length} images found in ${predict}`);
  const per = ms / Math.max(rows.length - 1, 1);
  console.log(`ort_ms_per_image ${per.toFixed(1)} max_rel_vs_score ${relScore.toExponential(3)} max_rel_vs_predict ${predict ? relPredict.toExponential(3) : 'n/a'} images ${rows.length} threads ${threads}`);
}

main().catch((e) => die(e.stack || String(e)));
