/**
 * The `tsa` section of a ledger's config.json: the time-stamping authority its checkpoints are timestamped by.
 *   { "tsa": { "url": "https://tsa.example/", "ca": "tsa-ca.pem", "every": "1h", "renewBefore": "30d" } }
 * `ca` is a PEM file of the CA certificate(s) the TSA's signing certificate must chain to, relative to the ledger's
 * folder unless absolute. `every`: how old the newest token may grow before the next push (or archive) asks for
 * another; `renewBefore`: how long before a token's signing certificate expires a renewal is asked for (RFC 4998
 * §5.2: a later token over the earlier one keeps it provable once its certificate has expired).
 *
 * Read strictly: a section that is there but wrong is an error naming the field, never silently ignored, since a
 * ledger the user believes timestamped and that is not would be found out only when the evidence is needed.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { FfauditError } from '../core/errors.js';
import { CONFIG_FILE } from '../ledger/location.js';
import { readRegularFile, writeFileAtomically } from '../ledger/safe-files.js';
import { durationMs, parseDurationText } from '../time/duration.js';
import { tsaUrl } from './client.js';
import { parseCaCertificates } from './verify.js';

/**
 * One token an hour: the longest an entry waits for a time proof once pushed (a push runs after every capture), at
 * 24 requests a day, which public TSAs take without a contract; an archive stamps its head first whatever the age.
 */
export const DEFAULT_EVERY = '1h';
/** A month's notice: schedules that run only with pushes may sit idle for weeks (holidays, a host switched off). */
export const DEFAULT_RENEW_BEFORE = '30d';
/** DEFAULT_RENEW_BEFORE in milliseconds: for a one-off TSA given on the command line. */
export const DEFAULT_RENEW_BEFORE_MS = durationMs({ count: 30, unit: 'd' });
/** A CA file is a few certificates; anything far larger is not one. */
const MAX_CA_BYTES = 256 * 1024;

export interface TsaConfig {
  url: string;
  /** The CA file, absolute. */
  ca: string;
  /** `every` and `renewBefore` as written (or their defaults), and in milliseconds. */
  every: string;
  everyMs: number;
  renewBefore: string;
  renewBeforeMs: number;
}

const FIELDS = new Set(['url', 'ca', 'every', 'renewBefore']);

function bad(field: string, why: string): never {
  throw new FfauditError('BAD_INPUT', `config.json: tsa${field === '' ? '' : `.${field}`} ${why}`);
}

function duration(v: unknown, field: string, fallback: string): { text: string; ms: number } {
  if (v === undefined) return { text: fallback, ms: durationMs(parseDurationText(fallback, { units: ['s', 'm', 'h', 'd'] })!) };
  const d = typeof v === 'string' ? parseDurationText(v, { units: ['s', 'm', 'h', 'd'], positive: true, maxDigits: 7 }) : null;
  if (!d) return bad(field, `must be a duration such as 90s, 10m, 24h or 30d, not ${JSON.stringify(v)}`);
  return { text: v as string, ms: durationMs(d) };
}

/** The tsa section of a parsed config.json in `dir`; undefined when there is none; BAD_INPUT naming the field when it is wrong. */
export function tsaConfigOf(config: Readonly<Record<string, unknown>>, dir: string): TsaConfig | undefined {
  const t = config.tsa;
  if (t === undefined) return undefined;
  if (typeof t !== 'object' || t === null || Array.isArray(t)) return bad('', 'must be an object {"url", "ca", "every"?, "renewBefore"?}');
  const o = t as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!FIELDS.has(k)) bad(k, 'is not a setting (url, ca, every, renewBefore)');
  if (typeof o.url !== 'string' || o.url === '') bad('url', 'must be the TSA\'s URL (https://…)');
  try {
    tsaUrl(o.url, 'tsa.url');
  } catch (e) {
    const msg = (e as Error).message;
    throw new FfauditError('BAD_INPUT', `config.json: ${msg.startsWith('tsa.url') ? msg : `tsa.url: ${msg}`}`);
  }
  if (typeof o.ca !== 'string' || o.ca === '') bad('ca', 'must name the PEM file of the CA certificates the TSA chains to');
  const ca = o.ca;
  const every = duration(o.every, 'every', DEFAULT_EVERY);
  const renewBefore = duration(o.renewBefore, 'renewBefore', DEFAULT_RENEW_BEFORE);
  return { url: o.url, ca: isAbsolute(ca) ? ca : join(dir, ca), every: every.text, everyMs: every.ms, renewBefore: renewBefore.text, renewBeforeMs: renewBefore.ms };
}

function readConfig(dir: string): Record<string, unknown> {
  const text = readRegularFile(join(dir, CONFIG_FILE));
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FfauditError('BAD_INPUT', `${join(dir, CONFIG_FILE)} is not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new FfauditError('BAD_INPUT', `${join(dir, CONFIG_FILE)} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

/** The TSA the ledger at `dir` is configured with (config.json read now), or undefined. */
export function readTsaConfig(dir: string): TsaConfig | undefined {
  return tsaConfigOf(readConfig(dir), dir);
}

/** The PEM text of a CA file (the config's, or one given on the command line). */
export function readCaFile(path: string, given: string = path): string {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw new FfauditError('IO', `cannot read the TSA CA file ${given}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (data.length > MAX_CA_BYTES) throw new FfauditError('BAD_INPUT', `the TSA CA file ${given} is larger than ${MAX_CA_BYTES} bytes`);
  return data.toString('utf8');
}

/**
 * Sets the tsa section of config.json in `dir`, keeping every other setting (and `every`/`renewBefore` when not
 * given); the result is parsed as a reader will before anything is written. The file is replaced whole.
 */
export function writeTsaConfig(dir: string, tsa: { url: string; ca: string; every?: string | undefined; renewBefore?: string | undefined }): TsaConfig {
  const config = readConfig(dir);
  const previous = typeof config.tsa === 'object' && config.tsa !== null && !Array.isArray(config.tsa) ? (config.tsa as Record<string, unknown>) : {};
  const every = tsa.every ?? previous.every;
  const renewBefore = tsa.renewBefore ?? previous.renewBefore;
  config.tsa = { url: tsa.url, ca: tsa.ca, ...(every !== undefined ? { every } : {}), ...(renewBefore !== undefined ? { renewBefore } : {}) };
  const parsed = tsaConfigOf(config, dir)!;
  parseCaCertificates(readCaFile(parsed.ca, tsa.ca));
  const path = join(dir, CONFIG_FILE);
  try {
    writeFileAtomically(path, `${JSON.stringify(config, null, 2)}\n`, 0o644);
  } catch (e) {
    throw new FfauditError('IO', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  return parsed;
}
