#!/usr/bin/env node
// Launcher. File fsyncs run on libuv's thread pool (4 threads by default), and 150 concurrent ingests
// would queue behind each other. The size must be set before the pool starts: an ES module entry is too
// late (the ESM loader already uses the pool), so this CommonJS file sets it and then loads the CLI.
'use strict';
process.env.UV_THREADPOOL_SIZE = process.env.UV_THREADPOOL_SIZE || '16';
// V8 lets its old generation grow to up to four times what survived the last full collection before the
// next one; under 150 concurrent 4 MB uploads most of it is then dead request state. Held to 20%, peak RSS
// under that load was 151-160 MB in three runs, against 155 and 185 MB without (with the unit's 4 MiB
// semi-spaces), at the same throughput. Under small images it costs CPU: 0.83 ms per image and a 166 MB
// peak against 0.69 ms and 276 MB (two runs). Memory is what the issue bounds (200 MB); the small-image
// rate still meets its own target (docs/BENCHMARKS.md, issue 7).
// Set here, while the heap is still empty, so that every way of starting the service gets it (the unit, the
// Dockerfile, npm start); `node --heap-growing-percent=N bin/image-spool.cjs` overrides it.
if (!process.execArgv.some((a) => a.startsWith('--heap-growing-percent'))) {
  require('node:v8').setFlagsFromString('--heap-growing-percent=20');
}
import('../dist/src/cli.js');
