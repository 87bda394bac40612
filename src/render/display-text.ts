/**
 * Text from the ledger shown to a person: recorded names and arguments are untrusted and may hold control
 * characters or terminal escape sequences, so those (and Unicode bidirectional overrides)
 * are shown escaped: the CLI's output and the web interface's pages show recorded text through this.
 */
export function displayText(s: string): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    const named: Record<number, string> = { 9: '\\t', 10: '\\n', 13: '\\r' };
    return named[code] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}
