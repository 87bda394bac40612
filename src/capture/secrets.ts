/**
 * Removing secrets before anything is hashed or stored (ARCHITECTURE.md invariant 4): URL credentials
 * (`user:pass@`, signed-URL and token query parameters), the values of options that carry secrets (`-headers`,
 * `-cookies`, keys and passphrases), and configured extra patterns. Each removed value leaves a keyed hash,
 * HMAC-SHA-256 under the ledger's redaction key, so whoever holds the value can later show it was that one, while
 * short secrets cannot be guessed from the ledger alone.
 */
import { createHmac } from 'node:crypto';
import type { Redaction } from '../core/run.js';

export const REDACTED = '[REDACTED]';

/** Options whose whole value is a secret (FFmpeg/libavformat AVOption names). */
const SECRET_OPTIONS = new Set([
  'headers', 'cookies', 'encryption_key', 'decryption_key', 'encryption_kid_secret', 'passphrase', 'key', 'iv', 'cryptokey',
  'cryptoiv', 'decryption_iv', 'encryption_iv', 'hls_enc_key', 'hls_enc_iv', 'activation_bytes', 'audible_key', 'audible_iv',
  'srtp_in_params', 'srtp_out_params', 'password', 'passwd', 'auth', 'authorization', 'token', 'secret', 'cenc_decryption_key',
  'cenc_decryption_keys', 'pkcs12_password', 'key_password', 'srt_passphrase',
]);

/** Query parameters whose value is a credential (signed URLs: AWS SigV4, GCS, Azure SAS, generic tokens). */
const SECRET_QUERY = /^(x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|sig|signature|sv|se|token|access_token|id_token|refresh_token|auth|auth_token|authorization|api_key|apikey|key|secret|password|passwd|pass|pwd|session|sessionid|policy|key-pair-id|hdnts|hmac|credential|credentials)$/i;

export interface ExtraRule {
  name: string;
  pattern: RegExp;
}

export interface RedactedArgv {
  argv: string[];
  redactions: Redaction[];
  /** The raw secret values, to be removed from the report text too. Never stored. */
  secrets: string[];
}

export function keyedHash(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value, 'utf8').digest('hex');
}

/** Redacts URL credentials and secret query values inside one string; pushes what it removed. */
function redactUrls(text: string, where: string, key: Buffer, out: Redaction[], secrets: string[]): string {
  return text.replace(/\b([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^\s/?#'"|]*)/g, (_m, scheme: string, authority: string) => {
    const at = authority.lastIndexOf('@');
    if (at < 0) return `${scheme}${authority}`;
    const userinfo = authority.slice(0, at);
    if (userinfo === REDACTED) return `${scheme}${authority}`;
    out.push({ where, kind: 'url-credentials', hmac: keyedHash(key, userinfo) });
    secrets.push(userinfo);
    return `${scheme}${REDACTED}${authority.slice(at)}`;
  }).replace(/([?&;])([^=&#\s'"]+)=([^&#\s'"]*)/g, (m, sep: string, name: string, value: string) => {
    if (!SECRET_QUERY.test(name) || value === '' || value === REDACTED) return m;
    out.push({ where, kind: `url-query:${name}`, hmac: keyedHash(key, value) });
    secrets.push(value);
    return `${sep}${name}=${REDACTED}`;
  });
}

function applyExtra(text: string, where: string, key: Buffer, extra: readonly ExtraRule[], out: Redaction[], secrets: string[]): string {
  for (const rule of extra) {
    const re = new RegExp(rule.pattern.source, rule.pattern.flags.includes('g') ? rule.pattern.flags : `${rule.pattern.flags}g`);
    text = text.replace(re, (m) => {
      out.push({ where, kind: `pattern:${rule.name}`, hmac: keyedHash(key, m) });
      secrets.push(m);
      return REDACTED;
    });
  }
  return text;
}

export function redactArgv(argv: readonly string[], key: Buffer, extra: readonly ExtraRule[] = []): RedactedArgv {
  const out: string[] = [];
  const redactions: Redaction[] = [];
  const secrets: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const prev = i > 0 ? argv[i - 1]! : '';
    const opt = prev.startsWith('-') ? prev.slice(1).split(':')[0]! : '';
    const where = `argv[${i}]`;
    if (opt && SECRET_OPTIONS.has(opt) && out[i - 1] === prev) {
      redactions.push({ where, kind: `option:${opt}`, hmac: keyedHash(key, a) });
      secrets.push(a);
      out.push(REDACTED);
      continue;
    }
    out.push(applyExtra(redactUrls(a, where, key, redactions, secrets), where, key, extra, redactions, secrets));
  }
  return { argv: out, redactions, secrets: secrets.filter((s) => s.length > 0) };
}

/** How fftools' dump_argument() writes an argument on the report's "Command line:" line (inside its quotes). */
export function escapeLikeReport(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (c === '\\' || c === '"' || c === '$' || c === '`') out += `\\${c}`;
    else if (b < 0x20 || b > 0x7e) out += `\\x${b.toString(16).padStart(2, '0')}`;
    else out += c;
  }
  return out;
}

/**
 * Redacts a text (FFmpeg's report): every secret found in the argv, wherever it appears (also in the forms FFmpeg
 * prints it: shell-quoted on the "Command line:" line, or with its line breaks), then URL credentials and extra
 * patterns anywhere.
 */
export function redactText(text: string, key: Buffer, secrets: readonly string[], extra: readonly ExtraRule[] = []): { text: string; redactions: Redaction[] } {
  const redactions: Redaction[] = [];
  const variants = new Set<string>();
  for (const s of secrets) {
    variants.add(s);
    for (const line of s.split(/\r?\n/)) if (line.trim().length >= 4) variants.add(line);
    variants.add(escapeLikeReport(s));
  }
  // Longest first, so a secret containing another is removed whole.
  for (const v of [...variants].sort((a, b) => b.length - a.length)) {
    if (!v || !text.includes(v)) continue;
    text = text.split(v).join(REDACTED);
    redactions.push({ where: 'report', kind: 'argv-secret', hmac: keyedHash(key, v) });
  }
  text = applyExtra(redactUrls(text, 'report', key, redactions, []), 'report', key, extra, redactions, []);
  return { text, redactions };
}
