/**
 * RFC 8785 JSON Canonicalization Scheme (JCS).
 *
 * - Object members sorted by the UTF-16 code units of their names (RFC 8785 §3.2.3): JavaScript's default
 *   string comparison is exactly that.
 * - Strings serialised as ECMAScript JSON.stringify does (RFC 8785 §3.2.2.2), which uses the minimal escapes.
 *   Lone surrogates are rejected (§3.2.2.2 requires well-formed Unicode).
 * - Numbers in ECMAScript shortest round-trip form (§3.2.2.3); NaN and infinities are not JSON and are rejected.
 *   ffaudit keeps integers below 2^53 so they survive any JSON reader; `canonicalize` refuses unsafe integers.
 */
import { FfauditError } from './errors.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// String.prototype.isWellFormed (ES2024, in Node 20) is native and far cheaper than a regex per string.
const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** Only plain objects are JSON objects: a Date, a Buffer or a Map would be written by rules of their own. */
function plain(value: object): Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw new FfauditError('BAD_INPUT', `${value.constructor?.name ?? 'object'} is not a JSON value`);
  return value as Record<string, unknown>;
}

/** Refuses the numbers and strings RFC 8785 cannot write exactly (both writers below check with this). */
function checkScalar(value: number | string): void {
  if (typeof value === 'string') {
    if (!isWellFormed(value)) throw new FfauditError('BAD_INPUT', 'string holds a lone surrogate');
  } else if (!Number.isFinite(value)) {
    throw new FfauditError('BAD_INPUT', 'JSON cannot hold NaN or Infinity');
  } else if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
    throw new FfauditError('BAD_INPUT', `integer ${value} is not below 2^53`);
  }
}

function serialize(value: unknown, depth: number): string {
  if (depth > 64) throw new FfauditError('BAD_INPUT', 'JSON nested too deeply');
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
    case 'string':
      checkScalar(value);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + serialize(value[i], depth + 1);
        return `${out}]`;
      }
      const obj = plain(value);
      const keys = Object.keys(obj).sort();
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) continue;
        out += `${first ? '' : ','}${serialize(k, depth + 1)}:${serialize(v, depth + 1)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new FfauditError('BAD_INPUT', `${typeof value} is not a JSON value`);
  }
}

/** Keys that V8 enumerates before all others, in numeric order (array indices), whatever order they were added in. */
const INDEX_KEY = /^(?:0|[1-9][0-9]{0,9})$/;
const NOT_ORDERABLE = new Error('a key no insertion order can sort'); // thrown and caught inside this module only

/**
 * A copy of `value` whose objects hold their members in canonical order, checked as `serialize` checks it, so
 * that the engine's native JSON.stringify (whose string and number forms are the ones RFC 8785 §3.2.2 adopts)
 * writes it canonically. Throws NOT_ORDERABLE for index-like keys, which no insertion order can sort, and for
 * `__proto__`, which an assignment would not copy.
 */
function ordered(value: unknown, depth: number): unknown {
  if (depth > 64) throw new FfauditError('BAD_INPUT', 'JSON nested too deeply');
  switch (typeof value) {
    case 'string':
    case 'number':
      checkScalar(value);
      return value;
    case 'boolean':
      return value;
    case 'object': {
      if (value === null) return null;
      // A value already in canonical order is returned as it is: only what must change is copied.
      if (Array.isArray(value)) {
        let out: unknown[] | undefined;
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          if (v === undefined) throw new FfauditError('BAD_INPUT', 'undefined is not a JSON value');
          const o = ordered(v, depth + 1);
          if (o !== v) (out ??= value.slice())[i] = o;
        }
        return out ?? value;
      }
      const obj = plain(value);
      const keys = Object.keys(obj);
      let sorted = true;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        if (k === '__proto__' || !isWellFormed(k)) throw NOT_ORDERABLE;
        if (i > 0 && keys[i - 1]! > k) sorted = false;
      }
      if (sorted) {
        // Members enumerate in canonical order already (JSON.stringify enumerates as Object.keys does, and leaves
        // out `undefined` as canonicalize must): a copy is made only from the first member whose value changes.
        let out: Record<string, unknown> | undefined;
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i]!;
          const v = obj[k];
          if (v === undefined) continue;
          const o = ordered(v, depth + 1);
          if (out) out[k] = o;
          else if (o !== v) {
            out = {};
            for (let j = 0; j < i; j++) if (obj[keys[j]!] !== undefined) out[keys[j]!] = obj[keys[j]!];
            out[k] = o;
          }
        }
        return out ?? obj;
      }
      keys.sort();
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        const c = k.charCodeAt(0);
        if (c >= 0x30 && c <= 0x39 && INDEX_KEY.test(k)) throw NOT_ORDERABLE; // enumerated first, whatever the insertion order
        const v = obj[k];
        if (v !== undefined) out[k] = ordered(v, depth + 1);
      }
      return out;
    }
    default:
      throw new FfauditError('BAD_INPUT', `${typeof value} is not a JSON value`);
  }
}

/** The canonical text of a value. Object members whose value is `undefined` are left out, as JSON.stringify does. */
export function canonicalize(value: unknown): string {
  let copy: unknown;
  try {
    copy = ordered(value, 0);
  } catch (e) {
    if (e !== NOT_ORDERABLE) throw e;
    return serialize(value, 0); // the member-by-member writer handles any key
  }
  return JSON.stringify(copy);
}

/** The canonical UTF-8 bytes of a value: what ffaudit stores and hashes. */
export function canonicalBytes(value: unknown): Buffer {
  return Buffer.from(canonicalize(value), 'utf8');
}

/** True when `bytes` are exactly the canonical form of the JSON they hold. Untrusted input: never throws. */
export function isCanonical(bytes: Uint8Array): boolean {
  try {
    const text = Buffer.from(bytes).toString('utf8');
    return canonicalize(JSON.parse(text)) === text && Buffer.from(text, 'utf8').equals(Buffer.from(bytes));
  } catch {
    return false;
  }
}
