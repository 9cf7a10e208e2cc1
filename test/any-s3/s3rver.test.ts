/** The "any S3 server" contract (contract.ts) against s3rver, with the ListParts front of test/helpers/s3-multipart-ext.ts. */
import { anyS3Contract } from './contract.js';
import { s3rverTarget } from './targets.js';

anyS3Contract('any S3 server: s3rver', s3rverTarget);
