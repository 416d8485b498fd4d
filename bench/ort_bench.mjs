#!/usr/bin/env node
// onnxruntime side of bench/compare_ort.mjs, run in its own process so that its peak RSS is
// its own. Mirrors `quench bench`: same options, one JSON object on stdout with the same keys.
//
//   node bench/ort_bench.mjs MODEL --batch B --threads T --iterations K --warmup W [--ort BUILD_DIR]
//
// Session: intra_op_num_threads=T, inter_op_num_threads=1, sequential execution, graph
// optimization level "all". Inputs: seeded uniform [0,1) data, dynamic first dim = B.
// throughput_per_s = B*K / (wall time of the K timed runs); peak_rss_mb is the process's
// maxRSS (node itself included, about 40-50 MB; baseline_rss_mb is the RSS before the model
// was loaded); peak_tensor_mb is null (onnxruntime does not report it).

import path from 'node:path';
import {
  loadOrt, parseArgs, makeBenchInputs, toOrtFeeds,
} from '../tests/ort/ort_util.mjs';

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2), {
    batch: 'number', threads: 'number', iterations: 'number', warmup: 'number', ort: 'string',
    json: 'bool', seed: 'number',
  });
  if (opts._.length !== 1) {
    console.error('usage: node ort_bench.mjs MODEL --batch B --threads T --iterations K --warmup W');
    process.exit(2);
  }
  const batch = opts.batch ?? 1;
  const threads = opts.threads ?? 1;
  const iterations = Math.max(1, opts.iterations ?? 20);
  const warmup = opts.warmup ?? 3;
  const ort = loadOrt(opts.ort);
  const baselineRss = process.memoryUsage().rss;

  const session = await ort.InferenceSession.create(opts._[0], {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = toOrtFeeds(ort, makeBenchInputs(session, batch, opts.seed ?? 7));
  for (let i = 0; i < warmup; i++) await session.run(feeds);

  const latencies = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const totalS = Number(process.hrtime.bigint() - start) / 1e9;
  const sorted = [...latencies].sort((a, b) => a - b);
  const result = {
    model: path.basename(opts._[0]),
    batch,
    threads,
    iterations,
    throughput_per_s: (batch * iterations) / totalS,
    latency_ms: {
      mean: latencies.reduce((a, b) => a + b, 0) / latencies.length,
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99: percentile(sorted, 99),
    },
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    peak_tensor_mb: null,
    baseline_rss_mb: baselineRss / (1024 * 1024),
    engine: `onnxruntime-node ${ort.env.versions?.common ?? ''}`.trim(),
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err) => {
  console.error(`ort_bench: ${err.message ?? err}`);
  process.exit(1);
});
