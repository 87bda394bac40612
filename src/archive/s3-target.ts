/**
 * An archive in an S3 bucket with Object Lock (loaded lazily: the AWS SDK is heavy). Credentials come only from
 * the SDK's usual sources (AWS_* environment variables, profile files); they are never logged, and any message
 * that could echo them is scrubbed. Every PUT carries Object Lock mode, retain-until date and a SHA-256 checksum
 * (S3 requires a checksum on locked PUTs); objects other than `checkpoint` also carry If-None-Match: * for servers
 * that honour it (AWS S3 does). Servers that ignore it (Ceph RGW 16) create a second version of an existing name,
 * so callers ask first about any name that may exist (src/archive/journal.ts says when).
 */
import { createRequire } from 'node:module';
import type * as S3Sdk from '@aws-sdk/client-s3';
import { FfauditError } from '../core/errors.js';
import { CHECKPOINT } from './layout.js';
import type { Retention } from './retention.js';
import type { ArchiveTarget, LockStatus, S3Location, StoredObject } from './target.js';

type S3Module = typeof S3Sdk;
type S3Client = S3Sdk.S3Client;

/** Replaces every credential value we know of by a marker, so that no error message can leak one. */
export function scrubSecrets(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = text;
  for (const k of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_ACCESS_KEY_ID', 'AWS_SECURITY_TOKEN']) {
    const v = env[k];
    if (v && v.length >= 4) out = out.split(v).join('[redacted]');
  }
  return out;
}

function describeError(e: unknown): string {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string };
  const status = err.$metadata?.httpStatusCode;
  const text = `${err.name ?? err.code ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${err.message ?? String(e)}`;
  return scrubSecrets(text.split('\n')[0] ?? text);
}

function isNotFound(e: unknown): boolean {
  const err = e as { name?: string; $metadata?: { httpStatusCode?: number } };
  return err.name === 'NoSuchKey' || err.name === 'NotFound' || err.$metadata?.httpStatusCode === 404;
}

function checkEndpoint(endpoint: string): string {
  let u: URL;
  try {
    u = new URL(endpoint);
  } catch {
    throw new FfauditError('USAGE', 'the S3 endpoint is not a URL');
  }
  if (u.username || u.password) throw new FfauditError('USAGE', 'credentials do not belong in the endpoint URL: use the AWS environment variables or profile files');
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new FfauditError('USAGE', 'the S3 endpoint must be an http:// or https:// URL');
  return u.toString().replace(/\/$/, '');
}

export class S3Target implements ArchiveTarget {
  readonly location: string;
  readonly parallelListing = true;
  readonly exclusiveCreate = false;
  private readonly s3: S3Module;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly root: string;

  private constructor(s3: S3Module, client: S3Client, loc: S3Location, endpoint: string | undefined) {
    this.s3 = s3;
    this.client = client;
    this.bucket = loc.bucket;
    this.root = loc.prefix === '' ? '' : `${loc.prefix}/`;
    this.location = `s3://${loc.bucket}/${loc.prefix}${endpoint ? ` at ${endpoint}` : ''}`;
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  static async open(loc: S3Location, endpointFlag: string | undefined): Promise<S3Target> {
    const raw = endpointFlag ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    const endpoint = raw ? checkEndpoint(raw) : undefined;
    // The SDK's notice about future Node versions would break our one-line stderr rule on every run.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    // Loaded here only, when an s3:// location is used. require() of the SDK's CommonJS build skips the named-export
    // analysis an ESM import() runs over its large bundle, which every s3:// command would otherwise pay for.
    const s3 = createRequire(import.meta.url)('@aws-sdk/client-s3') as S3Module;
    const client = new s3.S3Client({
      ...(endpoint ? { endpoint } : {}),
      forcePathStyle: true,
      region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      maxAttempts: 4,
    });
    return new S3Target(s3, client, loc, endpoint);
  }

  private fail(op: string, key: string, e: unknown): FfauditError {
    if ((e as { name?: string }).name === 'NoSuchBucket') return new FfauditError('ARCHIVE', `bucket ${this.bucket} does not exist`, { cause: e });
    return new FfauditError('ARCHIVE', `S3 ${op} s3://${this.bucket}/${key} failed: ${describeError(e)}`, { cause: e });
  }

  async prepare(): Promise<void> {
    let enabled = false;
    try {
      const r = await this.client.send(new this.s3.GetObjectLockConfigurationCommand({ Bucket: this.bucket }));
      enabled = r.ObjectLockConfiguration?.ObjectLockEnabled === 'Enabled';
    } catch (e) {
      const name = (e as { name?: string }).name;
      if (name === 'NoSuchBucket') throw new FfauditError('ARCHIVE', `bucket ${this.bucket} does not exist: create it with Object Lock enabled`);
      if (name !== 'ObjectLockConfigurationNotFoundError') throw this.fail('GetObjectLockConfiguration', '', e);
    }
    if (!enabled) throw new FfauditError('ARCHIVE', `bucket ${this.bucket} has no Object Lock: an archive needs a bucket created with Object Lock enabled`);
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      let r;
      try {
        r = await this.client.send(new this.s3.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.root + prefix, ContinuationToken: token }));
      } catch (e) {
        throw this.fail('ListObjectsV2', this.root + prefix, e);
      }
      for (const o of r.Contents ?? []) if (o.Key?.startsWith(this.root)) out.push(o.Key.slice(this.root.length));
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async listRange(prefix: string, after: string, through: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    const last = this.root + through;
    do {
      let r;
      try {
        r = await this.client.send(
          new this.s3.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.root + prefix, ...(token ? { ContinuationToken: token } : { StartAfter: this.root + after }) }),
        );
      } catch (e) {
        throw this.fail('ListObjectsV2', this.root + prefix, e);
      }
      let beyond = false;
      for (const o of r.Contents ?? []) {
        if (!o.Key?.startsWith(this.root)) continue;
        if (o.Key > last) {
          beyond = true;
          break;
        }
        if (o.Key > this.root + after) out.push(o.Key.slice(this.root.length));
      }
      token = r.IsTruncated && !beyond ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async has(name: string): Promise<boolean> {
    const key = this.root + name;
    try {
      await this.client.send(new this.s3.HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw this.fail('HeadObject', key, e);
    }
  }

  async get(name: string): Promise<StoredObject | undefined> {
    const key = this.root + name;
    try {
      const r = await this.client.send(new this.s3.GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const data = Buffer.from((await r.Body?.transformToByteArray()) ?? new Uint8Array());
      return { data, lock: lockStatus(r.ObjectLockMode, r.ObjectLockRetainUntilDate) };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw this.fail('GetObject', key, e);
    }
  }

  async put(name: string, data: Buffer, retention: Retention): Promise<boolean> {
    return this.putObject(name, data, retention, true);
  }

  private async putObject(name: string, data: Buffer, retention: Retention, once: boolean): Promise<boolean> {
    const key = this.root + name;
    try {
      await this.client.send(
        new this.s3.PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: data,
          ContentLength: data.length,
          ContentType: name === CHECKPOINT || name.startsWith('checkpoints/') || name === 'vkey' ? 'text/plain; charset=utf-8' : 'application/octet-stream',
          ObjectLockMode: retention.mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE',
          ObjectLockRetainUntilDate: retention.until,
          ChecksumAlgorithm: 'SHA256',
          ...(once ? { IfNoneMatch: '*' } : {}),
        }),
      );
      return true;
    } catch (e) {
      // A server honouring If-None-Match refuses when the object exists: acceptable only with identical bytes.
      if (once && (e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 412) {
        const existing = await this.get(name);
        if (existing?.data.equals(data)) return false;
        throw new FfauditError('ARCHIVE', `s3://${this.bucket}/${key} already exists with other content`);
      }
      throw this.fail('PutObject', key, e);
    }
  }

  async publishCheckpoint(data: Buffer, _size: number, retention: Retention): Promise<void> {
    await this.putObject(CHECKPOINT, data, retention, false);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async finish(): Promise<string | undefined> {
    return undefined;
  }

  close(): void {
    this.client.destroy();
  }
}

function lockStatus(mode: string | undefined, until: Date | undefined): LockStatus {
  if (!mode) return { locked: false, detail: 'no Object Lock retention' };
  if (!until || until.getTime() <= Date.now()) return { locked: false, detail: `${mode} retention ${until ? `expired on ${until.toISOString()}` : 'without a date'}` };
  return { locked: true, detail: `${mode} until ${until.toISOString()}` };
}
