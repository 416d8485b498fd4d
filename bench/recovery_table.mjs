// The accuracy-recovery evidence: every row is one `quench quantize` run on a test-zoo model,
// calibrated on the first 512 Fashion-MNIST training images and evaluated on the 10k test set,
// FP32 vs quantized top-1.
//
//   node bench/recovery_table.mjs --quench build/tools/cli/quench [--only cle,adaround,...]
//        [--adaround-iterations N] [--json out.json] [--extra-model name=path.onnx]
//
// Groups (--only): cle (MobileNetV2 per-tensor W8A8: min-max, +CLE, +CLE+bias correction, on the
// zoo model and on its function-preserving collapse variant, written by quench_cle_bench),
// adaround (W4A8 per-channel: nearest vs AdaRound on ResNet and MobileNetV2), keep_acc (4-bit
// weights: nearest vs ADMM vs EasyQuant vs SQuant), fallback (ViT W8A8: amp_num 0..5 and the
// 0.3-point accuracy budget). Each run's wall time is reported too (quantization + evaluation).
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const data = '/usr/share/datasets/fashion-mnist';
const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
}
const quench = opt('--quench', path.join(root, 'build/tools/cli/quench'));
const only = opt('--only', 'cle,adaround,keep_acc,fallback').split(',');
const adaIters = opt('--adaround-iterations', '');
const jsonOut = opt('--json', '');
const collapse = opt('--collapse-model', path.join(tmpdir(), 'quench_mobilenetv2_collapse.onnx'));

const zoo = (m) => (m === 'fashion_cnn' ? path.join(root, 'models/fashion_cnn.onnx')
                                         : path.join(root, `models/zoo/${m}.onnx`));
const out = mkdtempSync(path.join(tmpdir(), 'quench-recovery-'));

function run(group, label, model, flags) {
  const a = ['quantize', model, '--calib', `${data}/train-images-idx3-ubyte.gz`,
             '--calib-size', '512', '--eval', `${data}/t10k-images-idx3-ubyte.gz`,
             '--eval-labels', `${data}/t10k-labels-idx1-ubyte.gz`, '--export', 'qdq',
             '-o', path.join(out, 'o'), '--json', ...flags];
  const t0 = Date.now();
  const r = spawnSync(quench, a, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = (Date.now() - t0) / 1000;
  const row = { group, label, model: path.basename(model), flags: flags.join(' '), seconds };
  if (r.status !== 0) {
    row.error = (r.stderr || '').trim().split('\n').slice(-3).join(' | ');
  } else {
    const j = JSON.parse(r.stdout.trim().split('\n').pop());
    row.fp32 = 100 * j.eval.fp32_top1;
    row.quant = 100 * j.eval.quant_top1;
    row.drop = j.eval.drop_points;
    row.steps = j.steps.filter((s) => !['prepare', 'calibrate'].includes(s.step));
  }
  rows.push(row);
  const res = row.error ? `ERROR ${row.error}` :
    `fp32 ${row.fp32.toFixed(2)}  quant ${row.quant.toFixed(2)}  drop ${row.drop.toFixed(2)}`;
  console.error(`[${group}] ${row.model} ${label}: ${res}  (${seconds.toFixed(1)} s)`);
  return row;
}

const rows = [];
const W8A8_PT = ['--weights', 'per-tensor'];
const W4A8 = ['--w-bits', '4'];
const ada = adaIters ? ['--adaround-iterations', adaIters] : [];

if (only.includes('cle')) {
  const models = [zoo('mobilenetv2_fmnist')];
  if (!existsSync(collapse)) {
    // The function-preserving collapse variant (see bench/README.md, quench_cle_bench).
    const cleBench = path.join(path.dirname(path.dirname(path.dirname(quench))), 'bench/quench_cle_bench');
    spawnSync(cleBench, ['--limit', '1000', '--write-variant', collapse], { stdio: 'ignore' });
  }
  if (existsSync(collapse)) models.push(collapse);
  else console.error(`(could not write ${collapse} with quench_cle_bench: collapse variant skipped)`);
  for (const m of models) {
    run('cle', 'per-tensor W8A8 min-max', m, W8A8_PT);
    run('cle', '+ CLE', m, [...W8A8_PT, '--cle']);
    run('cle', '+ CLE + bias correction', m, [...W8A8_PT, '--cle', '--bias-correction', 'empirical']);
    run('cle', 'per-channel W8A8 (reference)', m, []);
  }
}
if (only.includes('adaround')) {
  for (const m of ['resnet_fmnist', 'mobilenetv2_fmnist']) {
    run('adaround', 'W4A8 per-channel nearest', zoo(m), W4A8);
    run('adaround', 'W4A8 per-channel AdaRound', zoo(m), [...W4A8, '--adaround', ...ada]);
  }
}
if (only.includes('keep_acc')) {
  for (const m of ['fashion_cnn', 'resnet_fmnist', 'mobilenetv2_fmnist']) {
    for (const g of [[], ['--weights', 'per-tensor']]) {
      const tag = g.length ? 'per-tensor' : 'per-channel';
      run('keep_acc', `W4A8 ${tag} nearest`, zoo(m), [...W4A8, ...g]);
      run('keep_acc', `W4A8 ${tag} ADMM`, zoo(m), [...W4A8, ...g, '--admm', '1000']);
      run('keep_acc', `W4A8 ${tag} EasyQuant`, zoo(m), [...W4A8, ...g, '--easy-quant', '1000']);
      run('keep_acc', `W4A8 ${tag} SQuant`, zoo(m), [...W4A8, ...g, '--squant']);
    }
  }
}
if (only.includes('fallback')) {
  for (let k = 0; k <= 5; ++k)
    run('fallback', `W8A8 amp_num ${k}`, zoo('vit_fmnist'), k ? ['--amp-num', String(k)] : []);
  run('fallback', 'W8A8 --max-drop 0.3', zoo('vit_fmnist'), ['--max-drop', '0.3']);
}

console.log('| group | model | setting | FP32 top-1 | quantized top-1 | drop | seconds |');
console.log('| --- | --- | --- | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  if (r.error) {
    console.log(`| ${r.group} | ${r.model} | ${r.label} | | | error: ${r.error} | ${r.seconds.toFixed(1)} |`);
    continue;
  }
  console.log(`| ${r.group} | ${r.model} | ${r.label} | ${r.fp32.toFixed(2)} | ${r.quant.toFixed(2)} | ` +
              `${r.drop.toFixed(2)} | ${r.seconds.toFixed(1)} |`);
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 2) + '\n');
