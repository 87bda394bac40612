/**
 * Text from the ledger shown to a person: recorded names and arguments are untrusted and may hold control
 * characters or terminal escape sequences, and characters that hide or reorder what follows (the bidirectional
 * embeddings, overrides, isolates and marks of Unicode TR #9 §2: the "Trojan Source" trick), so those are shown
 * escaped, and what is displayed is what was recorded, in order. The CLI's output and the web interface's pages
 * show recorded text through this; the markup itself is escaped by hono's JSX (or textContent in the browser).
 */
export function displayText(s: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    const named: Record<number, string> = { 9: '\\t', 10: '\\n', 13: '\\r' };
    return named[code] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/** The last component of a recorded path (a URL or pipe:N stays whole), for a short mention beside the full one. */
export function baseName(path: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(path)) return path;
  const i = path.lastIndexOf('/');
  return i >= 0 && i < path.length - 1 ? path.slice(i + 1) : path;
}
