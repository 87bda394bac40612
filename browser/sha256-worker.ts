// The File page's hashing, off the page's thread so that it stays responsive for hours of hashing: posted a File,
// answers with progress messages and then the hash. The page cancels by ending the worker (Worker.terminate).
//   in:  { file: Blob }
//   out: { type: 'progress', done, total } at most every 100 ms and at the end; { type: 'done', sha256 };
//        { type: 'error', message }
import { hashBlob } from './hash/sha256-blob';

const scope = globalThis as unknown as DedicatedWorkerGlobalScope;
const PROGRESS_EVERY_MS = 100;

scope.onmessage = (e: MessageEvent<{ file: Blob }>) => {
  let last = 0;
  const progress = (done: number, total: number) => {
    const now = Date.now();
    if (done < total && now - last < PROGRESS_EVERY_MS) return;
    last = now;
    scope.postMessage({ type: 'progress', done, total });
  };
  hashBlob(e.data.file, progress).then(
    (sha256) => scope.postMessage({ type: 'done', sha256 }),
    (err: unknown) => scope.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
  );
};
