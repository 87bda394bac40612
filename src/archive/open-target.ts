/**
 * Opens an archive target from its location. Kept apart from target.ts, which the targets themselves import for
 * the interface they implement: the factory knows every target, the targets know only the interface.
 */
import { parseArchiveLocation, type ArchiveSource, type ArchiveTarget } from './target.js';

export interface OpenTargetOptions {
  /** S3 endpoint URL (else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS itself). */
  endpoint?: string | undefined;
  /** Directory targets: create the directory when missing (archiving); verifying never creates. */
  create?: boolean;
}

/** Opens a target; the AWS SDK is loaded only for s3:// locations. */
export async function openTarget(text: string, opts: OpenTargetOptions = {}): Promise<ArchiveTarget> {
  const loc = parseArchiveLocation(text);
  if (loc.kind === 's3') {
    const { S3Target } = await import('./s3-target.js');
    return S3Target.open(loc, opts.endpoint);
  }
  const { DirTarget } = await import('./dir-target.js');
  return DirTarget.open(loc.dir, opts.create ?? false);
}

/** True for a location read over HTTP(S): a tlog-tiles log, such as a mirror of `ffaudit serve`, read-only. */
export function isHttpLocation(text: string): boolean {
  return /^https?:\/\//i.test(text);
}

/** Opens an archive to read: a target, or a tlog-tiles log over HTTP(S) (verify --from https://…). */
export async function openSource(text: string, opts: OpenTargetOptions = {}): Promise<ArchiveSource> {
  if (isHttpLocation(text)) {
    const { HttpSource } = await import('./http-source.js');
    return HttpSource.open(text);
  }
  return openTarget(text, opts);
}
