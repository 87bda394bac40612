/**
 * Secrets never reach the ledger (docs/design.md): they are removed from the argv and from FFmpeg's report log
 * before anything is hashed or stored. Each removed value is replaced by a placeholder carrying the start of its
 * keyed hash, and the full hash is recorded as a `Redaction`: someone who holds the value can later show it was
 * that one (HMAC-SHA-256, RFC 2104, under the ledger's 32-byte redaction key), while the ledger alone reveals
 * nothing about it.
 *
 * What counts as a secret:
 * - URL userinfo (`scheme://user:pass@host`, RFC 3986 §3.2.1), the whole `user:pass`;
 * - values of query parameters that carry credentials (signed URLs, tokens), the names kept;
 * - values of FFmpeg options that carry keys, passwords, headers or cookies;
 * - whole matches of extra patterns configured per ledger (`config.json`: {"redact": [{name, pattern}]});
 * - in text (the report log): every secret found in the argv, in the forms FFmpeg prints it, HTTP credential
 *   headers FFmpeg echoes at debug level, and the patterns above.
 *
 * Pure: node:crypto's HMAC is the only dependency.
 */
import { createHmac } from 'node:crypto';
import { FfauditError } from '../core/errors.js';
import type { Redaction } from '../core/entry.js';

/** An extra pattern (a JavaScript regular expression, case-sensitive unless it says `(?i)`… which JS lacks: use [Aa]). */
export interface RedactionRule {
  name: string;
  pattern: string;
}

export interface RedactedArgv {
  argv: string[];
  redactions: Redaction[];
  /** The raw secret values removed, for `redactText` to remove again from FFmpeg's log. Never store these. */
  secrets: string[];
}

export const REDACTED_PREFIX = '<redacted:';
/** Secrets this short would erase half the log; they are removed only where they stand alone. */
const MIN_FREE_SECRET = 4;
const PLACEHOLDER = /<redacted:[0-9a-f]{12}>/g;

/** hex HMAC-SHA-256(key, UTF-8 bytes of value). */
export function redactionHmac(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

function placeholder(hmac: string): string {
  return `${REDACTED_PREFIX}${hmac.slice(0, 12)}>`;
}

/**
 * FFmpeg options whose value is a secret (libavformat protocol and demuxer/muxer options: http, crypto, srt,
 * rist, ftp, icecast, rtp/srtp, mov/cenc, aax/audible, hls encryption). Names that only name a file holding a
 * key (`-hls_key_info_file`, `-key_file`, `-private_key`) are kept: the path is not the secret.
 */
export const SECRET_OPTIONS: ReadonlySet<string> = new Set([
  'headers', 'cookies', 'encryption_key', 'encryption_iv', 'decryption_key', 'decryption_iv', 'decryption_keys',
  'cenc_decryption_key', 'passphrase', 'key', 'iv', 'password', 'ftp-password', 'ftp-anonymous-password', 'secret',
  'srtp_in_params', 'srtp_out_params', 'cryptokey', 'activation_bytes', 'audible_key', 'audible_iv',
  'audible_fixed_key', 'aa_fixed_key', 'hls_enc_key', 'hls_enc_iv', 'aes_key', 'auth', 'token', 'access_token',
  'api_key', 'apikey',
]);

/** Query parameters whose values are credentials (compared in lower case): AWS SigV4, GCS, CloudFront, Azure SAS, OAuth, Akamai, librtmp. */
export const SECRET_QUERY_PARAMS: ReadonlySet<string> = new Set([
  'x-amz-signature', 'x-amz-credential', 'x-amz-security-token', 'x-goog-signature', 'x-goog-credential',
  'signature', 'sig', 'token', 'access_token', 'refresh_token', 'id_token', 'auth_token', 'auth', 'authorization',
  'key', 'password', 'passwd', 'pass', 'pwd', 'secret', 'client_secret', 'apikey', 'api_key', 'api-key', 'x-api-key',
  'policy', 'key-pair-id', 'passphrase', 'jwt', 'hdnts', 'hdnea', 'pubpasswd', 'sessionid', 'session_token',
]);

/** HTTP headers whose values are credentials, as FFmpeg echoes requests at debug level. */
const SECRET_HEADERS = /^([ \t]*(?:Authorization|Proxy-Authorization|Cookie|Set-Cookie|X-Api-Key|X-Amz-Security-Token|X-Auth-Token|Api-Key)[ \t]*:[ \t]*)([^\r\n]+)/gim;

/** `?name=value` / `&name=value` / `;name=value`. */
const QUERY_PARAM = /([?&;])([A-Za-z0-9_.-]+)=([^&#\s'"]*)/g;
/** The same, and librtmp's space-separated `name=value` after a URL (`rtmp://h/app pubPasswd=x`), for one argument. */
const QUERY_PARAM_OR_SPACED = /([?&;]|\s)([A-Za-z0-9_.-]+)=([^&#\s'"]*)/g;

const SCHEME_CHAR = /[A-Za-z0-9+.-]/;
const LETTER = /[A-Za-z]/;
const AUTHORITY_END = /[/?#\s'"<>]/;

/**
 * `scheme://userinfo@host`: replaces each userinfo, everything up to the last '@' of the authority (as
 * av_url_split reads it). A scan from each "://" rather than a regular expression: reports run to megabytes, and
 * a pattern anchored on the scheme would be tried at every letter.
 */
function replaceUserinfo(seg: string, hide: (userinfo: string) => string): string {
  let out = '';
  let last = 0;
  for (let i = seg.indexOf('://'); i >= 0; i = seg.indexOf('://', i + 3)) {
    let j = i;
    while (j > 0 && SCHEME_CHAR.test(seg[j - 1]!)) j--;
    while (j < i && !LETTER.test(seg[j]!)) j++;
    if (j === i) continue;
    const start = i + 3;
    let end = start;
    while (end < seg.length && !AUTHORITY_END.test(seg[end]!)) end++;
    const at = seg.lastIndexOf('@', end - 1);
    if (at < start + 1) continue; // no userinfo, or an empty one
    out += seg.slice(last, start) + hide(seg.slice(start, at));
    last = at;
    i = at - 2; // continue after the userinfo (the loop adds 3)
  }
  return out + seg.slice(last);
}

interface Finding {
  kind: string;
  value: string;
}

/** Applies `replace` to the parts of `text` that are not already placeholders. */
function outsidePlaceholders(text: string, replace: (segment: string) => string): string {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    out += replace(text.slice(last, m.index)) + m[0];
    last = m.index + m[0].length;
  }
  return out + replace(text.slice(last));
}

function compileRules(extra: readonly RedactionRule[]): { name: string; re: RegExp }[] {
  return extra.map((r) => {
    try {
      return { name: r.name, re: new RegExp(r.pattern, 'g') };
    } catch {
      throw new FfauditError('BAD_INPUT', `redaction pattern ${JSON.stringify(r.name)} is not a valid regular expression`);
    }
  });
}

/** Redacts URL credentials, credential query parameters and extra patterns inside one string. */
function redactPatterns(text: string, key: Buffer, rules: { name: string; re: RegExp }[], found: Finding[], oneArgument: boolean): string {
  const hide = (kind: string, value: string): string => {
    found.push({ kind, value });
    return placeholder(redactionHmac(key, value));
  };
  let s = outsidePlaceholders(text, (seg) => replaceUserinfo(seg, (userinfo) => hide('url-credentials', userinfo)));
  const librtmp = oneArgument && text.includes('://');
  s = outsidePlaceholders(s, (seg) =>
    seg.replace(librtmp ? QUERY_PARAM_OR_SPACED : QUERY_PARAM, (m, sep: string, name: string, value: string) => {
      if (value === '' || !SECRET_QUERY_PARAMS.has(name.toLowerCase())) return m;
      return `${sep}${name}=${hide(`url-query:${name}`, value)}`;
    }),
  );
  for (const { name, re } of rules) {
    s = outsidePlaceholders(s, (seg) => seg.replace(re, (m: string) => (m === '' ? m : hide(`pattern:${name}`, m))));
  }
  return s;
}

/** The option name of an argv element (`-headers`, `-decryption_key:v`), or null when it is not an option. */
function optionName(arg: string): string | null {
  if (!arg.startsWith('-') || arg === '-' || arg === '--') return null;
  const body = arg.slice(1);
  const colon = body.indexOf(':');
  return colon >= 0 ? body.slice(0, colon) : body;
}

/** The names of HTTP headers whose values are credentials. */
const CREDENTIAL_HEADER_NAMES = /^(?:Authorization|Proxy-Authorization|Cookie|Set-Cookie|X-Api-Key|X-Amz-Security-Token|X-Auth-Token|Api-Key)$/i;

/**
 * The credential header values inside an `-headers` value ("Name: value\r\n…"), each a secret of its own in case
 * FFmpeg prints them apart from the rest. Other headers' values stay secret only as part of the whole value, so
 * that a short one (`X-Trace: 1`) does not erase every "1" in the log.
 */
function credentialHeaderValues(headers: string): string[] {
  const out: string[] = [];
  for (const line of headers.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon < 0 || !CREDENTIAL_HEADER_NAMES.test(line.slice(0, colon).trim())) continue;
    const value = line.slice(colon + 1).trim();
    if (value !== '') out.push(value);
  }
  return out;
}

function dedupeRedactions(list: Redaction[]): Redaction[] {
  const seen = new Set<string>();
  return list.filter((r) => {
    const k = `${r.where}\u0000${r.kind}\u0000${r.hmac}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * The argv with every secret replaced by `<redacted:HMAC12>`. Non-secret arguments are returned byte for byte.
 * Option names are matched on the ffmpeg/ffprobe grammar: the value following a secret option is secret whatever
 * it looks like.
 */
export function redactArgv(argv: readonly string[], key: Buffer, extra: readonly RedactionRule[] = []): RedactedArgv {
  const rules = compileRules(extra);
  const out: string[] = [];
  const redactions: Redaction[] = [];
  const secrets = new Set<string>();
  const hideWhole = (i: number, option: string): void => {
    const value = argv[i]!;
    const hmac = redactionHmac(key, value);
    redactions.push({ where: `argv[${i}]`, kind: `option:${option}`, hmac });
    secrets.add(value);
    if (option === 'headers') for (const v of credentialHeaderValues(value)) secrets.add(v);
    out.push(placeholder(hmac));
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const found: Finding[] = [];
    out.push(redactPatterns(arg, key, rules, found, true));
    for (const f of found) {
      redactions.push({ where: `argv[${i}]`, kind: f.kind, hmac: redactionHmac(key, f.value) });
      // The same patterns run over the log; a very short value is left to them rather than erased everywhere.
      if (f.value.length >= MIN_FREE_SECRET) secrets.add(f.value);
    }
    // The value after a secret option is secret whatever it looks like (FFmpeg takes it even when it starts with '-').
    const option = optionName(arg);
    if (option !== null && SECRET_OPTIONS.has(option) && i + 1 < argv.length) {
      i++;
      if (argv[i] === '') out.push('');
      else hideWhole(i, option);
    }
  }
  // A secret given once (after -passphrase, say) may stand in another argument too (a file named after it): it is
  // removed there as well, and that argument is recorded as redacted (so its exact bytes are not kept either).
  const free = [...secrets].filter((v) => v.length >= MIN_FREE_SECRET).sort((a, b) => b.length - a.length);
  for (let j = 0; j < out.length && free.length > 0; j++) {
    out[j] = outsidePlaceholders(out[j]!, (seg) => {
      let v = seg;
      for (const secret of free) {
        if (!v.includes(secret)) continue;
        const hmac = redactionHmac(key, secret);
        v = v.split(secret).join(placeholder(hmac));
        redactions.push({ where: `argv[${j}]`, kind: 'argv-secret', hmac });
      }
      return v;
    });
  }
  return { argv: out, redactions: dedupeRedactions(redactions), secrets: [...secrets] };
}

/**
 * How FFmpeg writes an argument into the "Command line:" of its report (fftools/cmdutils.c `dump_argument`):
 * backslash before \ " $ `, and \xHH for bytes outside printable ASCII. Applied to a substring it gives the form
 * that substring takes inside a quoted argument.
 */
function dumpArgumentEscape(s: string): string {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (c === '\\' || c === '"' || c === '$' || c === '`') out += `\\${c}`;
    else if (byte < 0x20 || byte > 0x7e) out += `\\x${byte.toString(16).padStart(2, '0')}`;
    else out += c;
  }
  return out;
}

/** Every form a secret may take in FFmpeg's log: as given, percent-encoded, and escaped as in the Command line. */
function secretForms(secret: string): string[] {
  const forms = new Set([secret, dumpArgumentEscape(secret)]);
  try {
    forms.add(encodeURIComponent(secret));
    forms.add(encodeURIComponent(secret).replace(/%20/g, '+'));
  } catch {
    // A lone surrogate cannot be percent-encoded; the raw and escaped forms still apply.
  }
  try {
    const decoded = decodeURIComponent(secret);
    forms.add(decoded);
  } catch {
    // Not percent-encoded text.
  }
  return [...forms].filter((f) => f !== '');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}


/**
 * Text (FFmpeg's report log) with every known secret removed wherever it occurs, in any of the forms FFmpeg
 * prints it, then credential headers, URL credentials, credential query parameters and extra patterns.
 * A secret's placeholder is the same as in the argv. Redactions are listed once per distinct value.
 */
export function redactText(text: string, key: Buffer, secrets: readonly string[], extra: readonly RedactionRule[] = []): { text: string; redactions: Redaction[] } {
  const rules = compileRules(extra);
  const redactions: Redaction[] = [];
  // One pass for every form of every secret: the alternation tries the longest form first at each position,
  // so that a secret containing another is removed whole.
  const secretOf = new Map<string, string>();
  for (const secret of secrets) {
    if (secret === '') continue;
    for (const form of secretForms(secret)) if (!secretOf.has(form)) secretOf.set(form, secret);
  }
  let s = text;
  if (secretOf.size > 0) {
    const alternatives = [...secretOf.keys()]
      .sort((a, b) => b.length - a.length)
      .map((form) => (form.length >= MIN_FREE_SECRET ? escapeRegExp(form) : `(?<![A-Za-z0-9])${escapeRegExp(form)}(?![A-Za-z0-9])`));
    const re = new RegExp(alternatives.join('|'), 'g');
    const hits = new Set<string>();
    s = outsidePlaceholders(s, (seg) =>
      seg.replace(re, (m: string) => {
        const secret = secretOf.get(m)!;
        hits.add(secret);
        return placeholder(redactionHmac(key, secret));
      }),
    );
    for (const secret of hits) redactions.push({ where: 'report', kind: 'argv-secret', hmac: redactionHmac(key, secret) });
  }
  s = outsidePlaceholders(s, (seg) =>
    seg.replace(SECRET_HEADERS, (_m, head: string, value: string) => {
      const v = value.trimEnd();
      const hmac = redactionHmac(key, v);
      redactions.push({ where: 'report', kind: `header:${head.trim().slice(0, -1).trim().toLowerCase()}`, hmac });
      return `${head}${placeholder(hmac)}${value.slice(v.length)}`;
    }),
  );
  const found: Finding[] = [];
  s = redactPatterns(s, key, rules, found, false);
  for (const f of found) redactions.push({ where: 'report', kind: f.kind, hmac: redactionHmac(key, f.value) });
  return { text: s, redactions: dedupeRedactions(redactions) };
}

/**
 * A recorded path (a file's, or the working directory) with the argv's secrets and the ledger's extra patterns
 * removed, with the same placeholders as in the argv and the report: a name can hold what a pattern calls secret
 * (a case number, a stream key in a file name). `where` names the field in the entry.
 */
export function redactPath(path: string, where: string, key: Buffer, secrets: readonly string[], extra: readonly RedactionRule[] = []): { path: string; redactions: Redaction[] } {
  const r = redactField(path, where, key, secrets, extra);
  return { path: r.value, redactions: r.redactions };
}

/**
 * A free-text field of an entry (a run's `reason`, an asserted actor) redacted as a note's text is: the argv's
 * secrets, credential headers, URL credentials, credential query parameters and the ledger's own patterns. What the
 * user types about a run is as likely to hold a case number or a signed URL as the command line.
 */
export function redactField(value: string, where: string, key: Buffer, secrets: readonly string[], extra: readonly RedactionRule[] = []): { value: string; redactions: Redaction[] } {
  const r = redactText(value, key, secrets, extra);
  return { value: r.text, redactions: r.redactions.map((x) => ({ ...x, where })) };
}

/**
 * Redacts the paths of file records in place (`field[i].path`); a record whose path changed loses its exact-bytes
 * form (`path_b64`), which would hold the secret. Content hashes stay: they reveal nothing of the name.
 */
export function redactFileRecords(files: { path: string; path_b64?: string }[], field: string, key: Buffer, secrets: readonly string[], extra: readonly RedactionRule[] = []): Redaction[] {
  const out: Redaction[] = [];
  files.forEach((f, i) => {
    const r = redactPath(f.path, `${field}[${i}].path`, key, secrets, extra);
    if (r.path === f.path) return;
    f.path = r.path;
    delete f.path_b64;
    out.push(...r.redactions);
  });
  return out;
}

/**
 * The extra patterns of a ledger's config.json (`{"redact": [{"name": "...", "pattern": "..."}]}`). Untrusted
 * file content: every field is checked, and each pattern must compile and must not match the empty string.
 */
export function parseRedactionRules(config: unknown): RedactionRule[] {
  if (config === undefined || config === null) return [];
  if (typeof config !== 'object' || Array.isArray(config)) throw new FfauditError('BAD_INPUT', 'config.json must hold a JSON object');
  const list = (config as Record<string, unknown>).redact;
  if (list === undefined) return [];
  if (!Array.isArray(list)) throw new FfauditError('BAD_INPUT', 'config.json: "redact" must be a list of {"name", "pattern"}');
  return list.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new FfauditError('BAD_INPUT', `config.json: redact[${i}] must be an object`);
    const { name, pattern } = item as Record<string, unknown>;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new FfauditError('BAD_INPUT', `config.json: redact[${i}].name must be 1-64 letters, digits, '_', '.', '-'`);
    if (typeof pattern !== 'string' || pattern === '') throw new FfauditError('BAD_INPUT', `config.json: redact[${i}].pattern must be a non-empty string`);
    let re: RegExp;
    try {
      re = new RegExp(pattern);
    } catch {
      throw new FfauditError('BAD_INPUT', `config.json: redact[${i}].pattern is not a valid regular expression`);
    }
    if (re.test('')) throw new FfauditError('BAD_INPUT', `config.json: redact[${i}].pattern matches the empty string`);
    return { name, pattern };
  });
}
