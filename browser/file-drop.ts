// The File page's drop zone and file picker: the chosen file is hashed in this browser by a Web Worker
// (sha256-worker.ts) with a progress bar, then the page goes to /file/<sha256>. Only the hash leaves the machine:
// the file is never uploaded. Without this script the zone stays hidden and the hash form works alone.

interface WorkerAnswer {
  type: 'progress' | 'done' | 'error';
  done?: number;
  total?: number;
  sha256?: string;
  message?: string;
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T | null;

function bytes(n: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${n.toFixed(1)} ${units[i]}`;
}

function duration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `about ${s} s`;
  const min = Math.round(s / 60);
  return min < 90 ? `about ${min} min` : `about ${(min / 60).toFixed(1)} h`;
}

function setUp(): void {
  const zone = byId<HTMLElement>('file-drop');
  const pick = byId<HTMLInputElement>('file-pick');
  const box = byId<HTMLElement>('hash-progress');
  const label = byId<HTMLElement>('hash-label');
  const bar = byId<HTMLProgressElement>('hash-bar');
  const cancel = byId<HTMLButtonElement>('hash-cancel');
  const status = byId<HTMLElement>('hash-status');
  const field = byId<HTMLInputElement>('sha256');
  if (!zone || !pick || !box || !label || !bar || !cancel || !status) return;
  if (typeof Worker === 'undefined') return;
  zone.hidden = false;

  let worker: Worker | undefined;
  const stop = () => {
    worker?.terminate();
    worker = undefined;
    box.hidden = true;
  };

  const start = (file: File) => {
    stop();
    box.hidden = false;
    label.textContent = `Hashing ${file.name}`;
    bar.value = 0;
    status.textContent = `Hashing ${file.name} (${bytes(file.size)}) in this browser…`;
    let announced = 0;
    const started = Date.now();
    const w = new Worker('/assets/sha256-worker.js');
    worker = w;
    w.onmessage = (e: MessageEvent<WorkerAnswer>) => {
      if (worker !== w) return;
      const m = e.data;
      if (m.type === 'progress' && m.done !== undefined && m.total !== undefined) {
        const pct = m.total === 0 ? 100 : Math.floor((m.done / m.total) * 100);
        bar.value = pct;
        // A status for screen readers every tenth, not every tick.
        if (pct >= announced + 10 && pct < 100) {
          announced = pct - (pct % 10);
          const left = ((Date.now() - started) / m.done) * (m.total - m.done);
          status.textContent = `${announced}% hashed (${bytes(m.done)} of ${bytes(m.total)}), ${duration(left)} left`;
        }
      } else if (m.type === 'done' && m.sha256) {
        bar.value = 100;
        stop();
        if (field) field.value = m.sha256;
        status.textContent = `SHA-256 ${m.sha256}: looking it up…`;
        window.location.assign(`/file/${m.sha256}`);
      } else if (m.type === 'error') {
        stop();
        status.textContent = `The file could not be hashed: ${m.message ?? 'unknown error'}`;
      }
    };
    w.onerror = () => {
      stop();
      status.textContent = 'The file could not be hashed in this browser.';
    };
    w.postMessage({ file });
  };

  pick.addEventListener('change', () => {
    const f = pick.files?.[0];
    if (f) start(f);
  });
  cancel.addEventListener('click', () => {
    stop();
    status.textContent = 'Hashing cancelled.';
    pick.focus();
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('dragging');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('dragging');
    const files = e.dataTransfer?.files;
    const f = files?.[0];
    if (!f) return;
    start(f);
    if (files.length > 1) status.textContent = `One file at a time: hashing ${f.name} only.`;
  });
  // A file dropped beside the zone would otherwise be opened by the browser in place of the page.
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => e.preventDefault());
}

document.addEventListener('DOMContentLoaded', setUp);
