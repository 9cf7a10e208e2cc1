import { S3ServiceException } from '@aws-sdk/client-s3';

/** What S3 said about where the bucket is, when it refused a request for being sent to the wrong place. */
export interface WrongRegion {
  /** The bucket's region, from the error's <Region> or the x-amz-bucket-region header; null when S3 did not say. */
  region: string | null;
  /** The endpoint S3 asks for (<Endpoint> of a 301 PermanentRedirect); null when it did not say. */
  endpoint: string | null;
}

/**
 * AWS answers a request signed for another region with 400 AuthorizationHeaderMalformed (<Region> names the
 * right one), and a request sent to another region's endpoint with 301 PermanentRedirect (or 307 for a new
 * bucket), with x-amz-bucket-region. Answers to HEAD carry no body: there only the status and that header tell.
 * Every request fails the same way until S3_REGION / S3_ENDPOINT is fixed, so it is not any image's failure.
 */
const CODES = new Set(['AuthorizationHeaderMalformed', 'PermanentRedirect', 'TemporaryRedirect']);

export function wrongRegion(err: unknown): WrongRegion | null {
  if (!(err instanceof S3ServiceException)) return null;
  const status = err.$metadata.httpStatusCode ?? 0;
  const headerRegion = bucketRegionHeader(err);
  const bodiless = !('Code' in err);
  const matches = CODES.has(err.name) || status === 301 || status === 307 || (status === 400 && bodiless && headerRegion !== null);
  if (!matches) return null;
  return { region: stringField(err, 'Region') ?? headerRegion, endpoint: stringField(err, 'Endpoint') };
}

/** One sentence for /readyz and the log: what S3 said, and which setting to change. */
export function describeWrongRegion(err: S3ServiceException, where: WrongRegion): string {
  const status = err.$metadata.httpStatusCode ?? '?';
  // A bodiless answer (HEAD) has no message of its own: the SDK fills in "UnknownError".
  const said = 'Code' in err && err.message ? `: ${err.message}` : '';
  const head = `wrong S3 region or endpoint (HTTP ${status} ${'Code' in err ? err.name : 'without a body'}${said})`;
  if (where.region !== null) {
    const endpoint = where.endpoint !== null ? ` at ${where.endpoint}` : '';
    return `${head}; S3 says the bucket is in region ${where.region}${endpoint}: set S3_REGION=${where.region}`;
  }
  if (where.endpoint !== null) return `${head}; S3 asks for the endpoint ${where.endpoint}: check S3_ENDPOINT and S3_REGION`;
  return `${head}; check S3_REGION and S3_ENDPOINT`;
}

function bucketRegionHeader(err: S3ServiceException): string | null {
  const value = err.$response?.headers?.['x-amz-bucket-region'];
  return typeof value === 'string' && value !== '' ? value : null;
}

function stringField(err: S3ServiceException, name: string): string | null {
  const value: unknown = (err as unknown as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : null;
}
