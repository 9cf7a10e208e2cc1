// The poller lives with the bench (bench/health-watch.ts), which watches /healthz the same way in its hostile soak.
export * from '../../bench/health-watch.js';
