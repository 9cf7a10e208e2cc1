#!/usr/bin/env node
// Launcher. File fsyncs run on libuv's thread pool (4 threads by default), and 150 concurrent ingests
// would queue behind each other. The size must be set before the pool starts: an ES module entry is too
// late (the ESM loader already uses the pool), so this CommonJS file sets it and then loads the CLI.
'use strict';
process.env.UV_THREADPOOL_SIZE = process.env.UV_THREADPOOL_SIZE || '16';
// V8 lets its old generation grow to about twice what survived the last full collection before the next
// one. Under 150 concurrent uploads most of what it holds then is dead request state, and that headroom was
// ~40 MB of peak RSS; 20% growth cost no throughput (docs/BENCHMARKS.md, issue 7). Set here, while the heap
// is still empty, so that every way of starting the service gets it (the unit, the Dockerfile, npm start);
// `node --heap-growing-percent=N bin/image-spool.cjs` overrides it.
if (!process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) {
  require('node:v8').setFlagsFromString('--heap-growing-percent=20');
}
import('../dist/src/cli.js');
