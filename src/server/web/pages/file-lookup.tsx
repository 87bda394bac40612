/**
 * Looking a file up: by its SHA-256 typed or pasted (a plain GET form, which works without JavaScript), or, with
 * file-drop.js, by dropping or choosing the file, which is hashed in the browser (sha256-worker.js) and never sent.
 * The drop zone is hidden until the script shows it, so no one is offered what cannot work.
 */
import type { FC } from 'hono/jsx';

/**
 * The hash in what a person pasted: 64 hexadecimal digits, in either case, alone or after `sha256:`, or first on a
 * line of `sha256sum` output (`HASH  NAME`). Lower case, or undefined when there is none.
 */
export function pastedHash(text: string): string | undefined {
  return /^(?:sha256:)?([0-9a-f]{64})(?:\s[\s\S]*)?$/i.exec(text.trim())?.[1]?.toLowerCase();
}

export const FileLookup: FC<{ value?: string | undefined; error?: string | undefined; heading: 'h1' | 'h2' }> = ({ value, error, heading }) => (
  <section class="card file-lookup" aria-labelledby="lookup-heading">
    {heading === 'h1' ? <h1 id="lookup-heading">Find a file</h1> : <h2 id="lookup-heading">Look up another file</h2>}
    <p class="muted">Every audited FFmpeg run records the SHA-256 of what it read and wrote: a file's hash finds where it came from and where it went, on every host.</p>
    <form method="get" action="/file" class="row" id="hash-form">
      <div class="field grow">
        <label for="sha256">SHA-256 of the file</label>
        <input
          id="sha256"
          name="sha256"
          class="mono"
          value={value ?? ''}
          required
          spellcheck={false}
          autocomplete="off"
          placeholder="e.g. 9f86d081884c7d65… or sha256:9F86D081…"
          aria-describedby={error ? 'sha256-help sha256-error' : 'sha256-help'}
          aria-invalid={error ? 'true' : undefined}
        />
        <span id="sha256-help" class="hint">
          64 hexadecimal digits; a <code>sha256:</code> prefix, capitals and a <code>sha256sum</code> line are fine.
        </span>
      </div>
      <button type="submit" class="primary">
        Look up
      </button>
    </form>
    {error && (
      <p class="error-text" id="sha256-error" role="alert">
        {error}
      </p>
    )}
    <div id="file-drop" class="drop-zone" hidden>
      <p class="drop-title">Or hash a file on this computer</p>
      <p class="muted">Drop it here, or choose it: it is hashed in this browser and only its SHA-256 is sent. Hashing takes a few minutes per 10 GB; for very large files, <code>sha256sum FILE</code> on the machine that holds it is faster, and its line can be pasted above.</p>
      <div class="field">
        <label for="file-pick">Choose a file to hash</label>
        <input type="file" id="file-pick" />
      </div>
      <div id="hash-progress" class="hash-progress" hidden>
        <label for="hash-bar" id="hash-label">
          Hashing
        </label>
        <progress id="hash-bar" max="100" value="0"></progress>
        <button type="button" id="hash-cancel">
          Cancel
        </button>
      </div>
      <p id="hash-status" class="hash-status" role="status" aria-live="polite"></p>
    </div>
  </section>
);
