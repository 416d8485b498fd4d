#!/usr/bin/env node
// Side-by-side throughput and memory: `quench bench` against onnxruntime (bench/ort_bench.mjs,
// a separate node process) for every model in models/ and models/zoo/, at batch 1 and 64 and
// 1 and 2 threads. See bench/README.md.
//
//   node bench/compare_ort.mjs --quench BUILD/tools/cli/quench [--ort BUILD] [--json] [--check]
//        [--batches 1,64] [--threads 1,2] [--reps 3] [--seconds 1] [--iterations K] [--warmup W]
//        [--cnn REGEX] [--only REGEX] [extra.onnx ...]
//
// Each (model, batch, threads) is measured --reps times per engine, quench and onnxruntime
// alternating (the machine is noisy), and the median is kept. The iteration count is picked once
// per configuration from a short onnxruntime probe so one measurement lasts about --seconds.
// Exits 0 (it is a report), unless --check: then exits 1 when a CNN (--cnn, by file name) at
// batch 64 has throughput ratio quench/ort < 0.8 or peak-RSS ratio quench/ort > 1.5, or a
// measurement of one failed.

import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kRepoRoot, parseArgs } from '../tests/ort/ort_util.mjs';

const kHere = path.dirname(fileURLToPath(import.meta.url));
const kOrtBench = path.join(kHere, 'ort_bench.mjs');
const kMinThroughputRatio = 0.8;
const kMaxMemoryRatio = 1.5;

function listModels() {
  const models = [];
  for (const dir of [path.join(kRepoRoot, 'models'), path.join(kRepoRoot, 'models', 'zoo')]) {
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir).sort()) if (f.endsWith('.onnx')) models.push(path.join(dir, f));
  }
  return models;
}

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// Runs one benchmark process and parses the JSON object it prints (the last line that parses).
function runBench(cmd, args, timeoutS) {
  const proc = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutS * 1000, maxBuffer: 16 << 20 });
  if (proc.error || proc.status !== 0) {
    const why = proc.error ? proc.error.message : `exit ${proc.status ?? proc.signal}`;
    const tail = (proc.stderr || '').trim().split('\n').slice(-2).join(' | ');
    return { error: `${path.basename(cmd)} ${args[0] === 'bench' ? 'bench ' : ''}failed (${why}) ${tail}`.trim() };
  }
  const lines = proc.stdout.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      const obj = JSON.parse(line);
      if (obj && typeof obj.throughput_per_s === 'number') return obj;
    } catch { /* not the JSON line */ }
  }
  return { error: `no JSON result in output: ${proc.stdout.slice(0, 200)}` };
}

function quenchCmd(opts, model, batch, threads, iterations, warmup) {
  return [opts.quench, ['bench', model, '--batch', String(batch), '--threads', String(threads),
    '--iterations', String(iterations), '--warmup', String(warmup), '--json']];
}

function ortCmd(opts, model, batch, threads, iterations, warmup) {
  const args = [kOrtBench, model, '--batch', String(batch), '--threads', String(threads),
    '--iterations', String(iterations), '--warmup', String(warmup), '--json'];
  if (opts.ort) args.push('--ort', opts.ort);
  return [process.execPath, args];
}

function pickIterations(opts, model, batch, threads) {
  if (opts.iterations) return opts.iterations;
  const [cmd, args] = ortCmd(opts, model, batch, threads, 3, 1);
  const probe = runBench(cmd, args, opts.timeout);
  if (probe.error) return 10;
  const perRunS = Math.max(1e-5, probe.latency_ms.mean / 1000);
  return Math.min(2000, Math.max(5, Math.round(opts.seconds / perRunS)));
}

function measure(opts, model, batch, threads) {
  const iterations = pickIterations(opts, model, batch, threads);
  const warmup = opts.warmup ?? Math.min(10, Math.max(2, Math.round(iterations / 10)));
  const runs = { quench: [], ort: [] };
  const errors = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    const order = rep % 2 === 0 ? ['quench', 'ort'] : ['ort', 'quench'];
    for (const engine of order) {
      const [cmd, args] = (engine === 'quench' ? quenchCmd : ortCmd)(opts, model, batch, threads, iterations, warmup);
      const r = runBench(cmd, args, opts.timeout);
      if (r.error) errors.push(`${engine}: ${r.error}`);
      else runs[engine].push(r);
    }
  }
  const summarize = (list) => (list.length === 0 ? null : {
    throughput_per_s: median(list.map((r) => r.throughput_per_s)),
    latency_p50_ms: median(list.map((r) => r.latency_ms?.p50)),
    peak_rss_mb: median(list.map((r) => r.peak_rss_mb)),
    peak_tensor_mb: median(list.map((r) => r.peak_tensor_mb)),
    runs: list.length,
  });
  const q = summarize(runs.quench);
  const o = summarize(runs.ort);
  return {
    model: path.basename(model),
    batch,
    threads,
    iterations,
    quench: q,
    ort: o,
    throughput_ratio: q && o ? q.throughput_per_s / o.throughput_per_s : null,
    memory_ratio: q && o && q.peak_rss_mb && o.peak_rss_mb ? q.peak_rss_mb / o.peak_rss_mb : null,
    errors: [...new Set(errors)],
  };
}

function num(x, digits = 1) {
  return x === null || x === undefined ? '-' : x.toFixed(digits);
}

function printTable(rows) {
  const header = ['model', 'batch', 'thr', 'quench/s', 'ort/s', 'ratio', 'quench MB', 'ort MB', 'mem ratio'];
  const body = rows.map((r) => [
    r.model, String(r.batch), String(r.threads),
    num(r.quench?.throughput_per_s), num(r.ort?.throughput_per_s), num(r.throughput_ratio, 2),
    num(r.quench?.peak_rss_mb), num(r.ort?.peak_rss_mb), num(r.memory_ratio, 2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
  for (const r of rows) for (const e of r.errors) console.log(`! ${r.model} b${r.batch} t${r.threads}: ${e}`);
}

function checkFailures(rows, cnnPattern) {
  const failures = [];
  for (const r of rows) {
    if (r.batch !== 64 || !cnnPattern.test(r.model)) continue;
    const where = `${r.model} batch ${r.batch} threads ${r.threads}`;
    if (r.throughput_ratio === null) failures.push(`${where}: no measurement (${r.errors.join('; ')})`);
    else if (r.throughput_ratio < kMinThroughputRatio) {
      failures.push(`${where}: throughput ratio ${r.throughput_ratio.toFixed(2)} < ${kMinThroughputRatio}`);
    }
    if (r.memory_ratio !== null && r.memory_ratio > kMaxMemoryRatio) {
      failures.push(`${where}: memory ratio ${r.memory_ratio.toFixed(2)} > ${kMaxMemoryRatio}`);
    }
  }
  return failures;
}

function main() {
  const opts = parseArgs(process.argv.slice(2), {
    quench: 'string', ort: 'string', json: 'bool', check: 'bool', batches: 'string',
    threads: 'string', reps: 'number', seconds: 'number', iterations: 'number', warmup: 'number',
    cnn: 'string', only: 'string', timeout: 'number', help: 'bool',
  });
  if (opts.help || !opts.quench) {
    console.error('usage: node bench/compare_ort.mjs --quench QUENCH [--ort BUILD_DIR] [--json] [--check] ' +
      '[--batches 1,64] [--threads 1,2] [--reps 3] [--seconds 1] [--iterations K] [--warmup W] ' +
      '[--cnn REGEX] [--only REGEX] [model.onnx ...]');
    process.exit(opts.help ? 0 : 2);
  }
  opts.quench = path.resolve(opts.quench);
  const batches = (opts.batches ?? '1,64').split(',').map(Number);
  const threadCounts = (opts.threads ?? '1,2').split(',').map(Number);
  opts.reps ??= 3;
  opts.seconds ??= 1;
  opts.timeout ??= 600;
  const cnnPattern = new RegExp(opts.cnn ?? 'fashion_cnn|resnet|mobilenet');
  let models = [...listModels(), ...opts._.map((m) => path.resolve(m))];
  if (opts.only) models = models.filter((m) => new RegExp(opts.only).test(path.basename(m)));

  const rows = [];
  for (const model of models) {
    for (const batch of batches) {
      for (const threads of threadCounts) {
        const row = measure(opts, model, batch, threads);
        rows.push(row);
        if (!opts.json) {
          process.stderr.write(`  ${row.model} b${batch} t${threads}: quench ${num(row.quench?.throughput_per_s)}/s, ` +
            `ort ${num(row.ort?.throughput_per_s)}/s\n`);
        }
      }
    }
  }
  const failures = opts.check ? checkFailures(rows, cnnPattern) : [];
  if (opts.json) {
    console.log(JSON.stringify({ rows, check: opts.check ? { failures } : undefined }, null, 1));
  } else {
    printTable(rows);
    for (const f of failures) console.log(`CHECK FAIL ${f}`);
    if (opts.check && failures.length === 0) console.log('check: all CNNs at batch 64 within limits');
  }
  process.exit(failures.length ? 1 : 0);
}

main();
