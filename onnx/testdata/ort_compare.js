// Cross-check the Executor against ONNX Runtime on the cases the tests dump.
//
//   mkdir -p /tmp/onnxcases
//   VIGIL_ONNX_DUMP=/tmp/onnxcases go test ./onnx -count=1
//   bash ../shared/bench/ort/setup.sh            # installs onnxruntime-node into /tmp/vigil-ort
//   node onnx/testdata/ort_compare.js /tmp/onnxcases
//
// For every NAME.json manifest (inputs and the Executor's outputs as raw
// little-endian float32 files) it runs NAME.onnx in ORT (CPU) and prints the
// max abs difference per case; a case fails above 1e-4 or on a shape mismatch.
'use strict';
const path = require('path');
const fs = require('fs');
const ort = require(path.join(process.env.VIGIL_ORT_DIR || '/tmp/vigil-ort', 'node_modules', 'onnxruntime-node'));

const readF32 = (f) => {
  const b = fs.readFileSync(f);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
};

(async () => {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: node ort_compare.js DUMP_DIR');
  let worst = 0;
  let failures = 0;
  for (const j of fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
    const man = JSON.parse(fs.readFileSync(path.join(dir, j)));
    try {
      const s = await ort.InferenceSession.create(path.join(dir, j.replace(/\.json$/, '.onnx')),
        { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
      const feeds = {};
      for (const [n, v] of Object.entries(man.inputs)) feeds[n] = new ort.Tensor('float32', readF32(v.file), v.dims);
      const out = await s.run(feeds);
      const bad = [];
      let caseWorst = 0;
      for (const [n, v] of Object.entries(man.outputs)) {
        const ours = readF32(v.file);
        const ref = out[n].data;
        let d = ref.length === ours.length ? 0 : Infinity;
        for (let i = 0; i < ref.length && d !== Infinity; i++) d = Math.max(d, Math.abs(Number(ref[i]) - ours[i]));
        const sameShape = out[n].dims.join('x') === v.dims.join('x');
        if (d > 1e-4 || !sameShape) bad.push(`${n}: diff ${d}, ORT shape ${out[n].dims}, ours ${v.dims}`);
        worst = Math.max(worst, d);
        caseWorst = Math.max(caseWorst, d);
      }
      failures += bad.length;
      console.log(`${j}: ${bad.length ? 'MISMATCH ' + bad.join('; ') : 'ok, max abs diff ' + caseWorst.toExponential(2)}`);
    } catch (e) {
      failures++;
      console.log(`${j}: ORT error: ${String(e.message).split('\n')[0]}`);
    }
  }
  console.log(`worst max abs diff ${worst}, failures ${failures}`);
  process.exit(failures ? 1 : 0);
})();
