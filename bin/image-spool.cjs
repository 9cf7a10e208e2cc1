#!/usr/bin/env node
// Launcher. File fsyncs run on libuv's thread pool (4 threads by default), and 150 concurrent ingests
// would queue behind each other. The size must be set before the pool starts: an ES module entry is too
// late (the ESM loader already uses the pool), so this CommonJS file sets it and then loads the CLI.
'use strict';
process.env.UV_THREADPOOL_SIZE = process.env.UV_THREADPOOL_SIZE || '16';
import('../dist/src/cli.js');
