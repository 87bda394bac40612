/**
 * Text from a ledger as people must see it: every value in an entry is the recorder's word, and a file name may
 * hold characters that hide or reorder what follows (control characters, bidirectional overrides such as U+202E:
 * Unicode TR #9 §2.2, the "Trojan Source" trick). They are shown as visible marks ⟨U+202E⟩ instead, so what is
 * displayed is what was recorded, in order. The markup itself is escaped by hono's JSX (or textContent in the
 * browser), never here.
 */

/** C0 and C1 controls, the bidirectional embeddings, overrides and isolates, the directional marks. */
// eslint-disable-next-line no-control-regex
const HIDDEN = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function visible(s: string): string {
  return s.replace(HIDDEN, (ch) => `⟨U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}

/** The last component of a recorded path (a URL or pipe:N stays whole), for a short mention beside the full one. */
export function baseName(path: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(path)) return path;
  const i = path.lastIndexOf('/');
  return i >= 0 && i < path.length - 1 ? path.slice(i + 1) : path;
}
