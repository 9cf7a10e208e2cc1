// The generators live with the bench (bench/fixtures/), which sends the same bytes in its hostile soak.
export * from '../../bench/fixtures/poison-images.js';
