/**
 * Where an archive lives: an S3 bucket with Object Lock, or a directory. Both behind one small write-once
 * interface; everything read back from either is untrusted input.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { FfauditError } from '../core/errors.js';
import type { Retention } from './retention.js';

/** Whether an object carries the retention it should: Object Lock on S3, read-only on a directory. */
export interface LockStatus {
  locked: boolean;
  detail: string;
}

export interface StoredObject {
  data: Buffer;
  lock: LockStatus;
}

/**
 * What reading an archive needs. Every ArchiveTarget is one; so is a tlog-tiles log served over HTTP (http-source.ts,
 * a mirror of `ffaudit serve` for one), which can neither list its objects nor say whether they are locked.
 */
export interface ArchiveSource {
  /** The archive's location, fit to print (never carries credentials). */
  readonly location: string;
  /**
   * True for a source that cannot list its objects nor report their retention (tlog-tiles over HTTP): a reader asks
   * for each name it expects instead of listing, and a lock status from it is not a finding. Absent on a target.
   */
  readonly noListing?: boolean;
  /** Names (relative to the archive root) of the objects whose names start with `prefix`. */
  list(prefix: string): Promise<string[]>;
  /** An object's bytes and lock status; undefined when absent. */
  get(name: string): Promise<StoredObject | undefined>;
  close(): void;
}

export interface ArchiveTarget extends ArchiveSource {
  /** True when listing several prefixes at once is faster than one listing (S3: one request per 1000 names). */
  readonly parallelListing: boolean;
  /**
   * False when writing a name that exists may create a second copy of it (S3: a second version, on servers that
   * ignore If-None-Match); true when `put` itself refuses to create a name twice (a directory: link(2)).
   */
  readonly exclusiveCreate: boolean;
  /**
   * Names starting with `prefix` that sort (by bytes) after `after` and not after `through`. On S3 the listing
   * starts at `after`, so it costs what the range holds, not what the prefix holds.
   */
  listRange(prefix: string, after: string, through: string): Promise<string[]>;
  /** Whether an object exists (one cheap request on S3: HEAD). */
  has(name: string): Promise<boolean>;
  /** Checks the target can take locked writes (S3: Object Lock enabled on the bucket) before anything is written. */
  prepare(): Promise<void>;
  /**
   * Writes a new object, locked; never replaces one. Returns false when the target refused because the name
   * exists with exactly these bytes (a directory always checks; S3 when the server honours If-None-Match).
   */
  put(name: string, data: Buffer, retention: Retention): Promise<boolean>;
  /** Makes `checkpoints/<size>` (already written) the latest `checkpoint`: a new locked version, never a rewrite. */
  publishCheckpoint(data: Buffer, size: number, retention: Retention): Promise<void>;
  /** Work to do once all objects of a run are written (e.g. making files immutable). */
  finish(): Promise<string | undefined>;
}

export interface S3Location {
  kind: 's3';
  bucket: string;
  /** Key prefix without leading or trailing slash ('' for the bucket root). */
  prefix: string;
}

export interface DirLocation {
  kind: 'dir';
  dir: string;
}

export type ArchiveLocation = S3Location | DirLocation;

/** Parses `s3://BUCKET[/PREFIX]` or a directory path. Credentials in the URL are refused without echoing them. */
export function parseArchiveLocation(text: string): ArchiveLocation {
  if (/^s3:\/\//i.test(text)) {
    const rest = text.slice(5);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    if (bucket.includes('@') || bucket.includes(':')) {
      throw new FfauditError('USAGE', 'credentials do not belong in an s3:// location: use the AWS environment variables or profile files');
    }
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new FfauditError('USAGE', `not a valid S3 bucket name: ${JSON.stringify(bucket)}`);
    const prefix = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/^\/+|\/+$/g, '');
    if (prefix.split('/').some((p) => p === '..' || p === '.')) throw new FfauditError('USAGE', 'an S3 prefix may not contain . or .. elements');
    return { kind: 's3', bucket, prefix };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new FfauditError('USAGE', `unsupported archive location ${JSON.stringify(text.split(':')[0] + '://…')}: use s3://BUCKET/PREFIX or a directory`);
  return { kind: 'dir', dir: resolve(text) };
}

/** True for s3://… and for an existing directory (a checkpoint saved earlier is a file). */
export function isArchiveLocation(text: string): boolean {
  if (/^s3:\/\//i.test(text)) return true;
  try {
    return statSync(text).isDirectory();
  } catch {
    return false;
  }
}
