/**
 * The exact bytes of our own arguments. Node decodes argv as UTF-8 and replaces invalid sequences with U+FFFD, so
 * a file name that is not valid UTF-8 would silently become another name. /proc/self/cmdline holds the bytes the
 * kernel received (NUL-separated); the user's arguments are its last entries.
 */
import { readFileSync } from 'node:fs';

/**
 * For each of the last `count` arguments: its raw bytes when they differ from the UTF-8 encoding of the string
 * Node gave us (i.e. the argument is not valid UTF-8), else undefined. Without /proc every entry is undefined.
 */
export function rawArgBytes(args: readonly string[]): (Buffer | undefined)[] {
  let raw: Buffer;
  try {
    raw = readFileSync('/proc/self/cmdline');
  } catch {
    return args.map(() => undefined);
  }
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0) {
      parts.push(raw.subarray(from, i));
      from = i + 1;
    }
  }
  if (from < raw.length) parts.push(raw.subarray(from));
  if (parts.length < args.length) return args.map(() => undefined);
  const tail = parts.slice(parts.length - args.length);
  return args.map((a, i) => {
    const b = tail[i]!;
    return b.equals(Buffer.from(a, 'utf8')) ? undefined : Buffer.from(b);
  });
}
