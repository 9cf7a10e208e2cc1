// s3rver ships no types; this declares the small surface image-spool uses.
declare module 's3rver' {
  interface BucketConfig {
    name: string;
    configs: Array<string | Buffer>;
  }
  interface S3rverOptions {
    port?: number;
    address?: string;
    silent?: boolean;
    directory: string;
    resetOnClose?: boolean;
    configureBuckets?: BucketConfig[];
  }
  export default class S3rver {
    constructor(options: S3rverOptions);
    run(): Promise<{ address: string; port: number; family: string }>;
    close(): Promise<void>;
    /** The koa app, for test harnesses that add routes the server lacks. */
    use(middleware: (ctx: unknown, next: () => Promise<void>) => Promise<void>): unknown;
    /** Koa's middleware list, in order; composed when the server starts listening (src/s3/local-server.ts). */
    middleware: Array<(ctx: never, next: () => Promise<void>) => unknown>;
  }
}
