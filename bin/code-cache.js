// Loads a CommonJS bundle with V8's code cache, so that an audited run does not parse and compile the capture path
// again on every start (BENCHMARKS.md has what it saves). Node 22 offers this as
// module.enableCompileCache(); Node 20 does not, hence this file.
//
// The cache lives in the user's own cache directory ($XDG_CACHE_HOME/ffaudit or ~/.cache/ffaudit, mode 0700), as
// Node's own compile cache does, keyed by the SHA-256 of the bundle's bytes and the Node version: V8 checks the
// version and its flags, but not the source text (only its length), so the key must. The cache is code: it is read
// only from a directory and a file that are this user's own and writable by no one else, and only when it is a
// regular file. A missing, unreadable, untrusted or rejected cache costs only the compile; the cache is then
// written after the run, with the functions the run compiled, and never fails the run. FFAUDIT_CODE_CACHE=0 turns
// it off. The bundle must hold no dynamic import(): a script compiled here has no loader for one (the build checks).
'use strict';
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const Module = require('node:module');
const os = require('node:os');
const path = require('node:path');
const vm = require('node:vm');

function cacheDir() {
  const base = process.env.XDG_CACHE_HOME && path.isAbsolute(process.env.XDG_CACHE_HOME) ? process.env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(base, 'ffaudit');
}

/** True when `p` is this user's own, of the kind wanted, and writable by no one else. */
function ours(p, kind) {
  const st = fs.lstatSync(p);
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : st.uid;
  return (kind === 'dir' ? st.isDirectory() : st.isFile()) && st.uid === uid && (st.mode & 0o022) === 0;
}

/** Requires `file` through the code cache; returns its exports and a function that saves the cache when it should. */
function requireCached(file) {
  const plain = () => ({ exports: require(file), save() {} });
  if (process.env.FFAUDIT_CODE_CACHE === '0') return plain();
  const source = fs.readFileSync(file);
  const key = createHash('sha256').update(source).update(`\0${process.version}\0${process.arch}`).digest('hex').slice(0, 32);
  let dir;
  try {
    dir = cacheDir();
  } catch {
    return plain(); // no home directory to keep a cache in
  }
  const cacheFile = path.join(dir, `capture-${key}.v8`);
  let cachedData;
  try {
    if (ours(dir, 'dir') && ours(cacheFile, 'file')) cachedData = fs.readFileSync(cacheFile);
  } catch {
    // none yet
  }
  const script = new vm.Script(Module.wrap(source.toString('utf8')), { filename: file, cachedData });
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  require.cache[file] = m;
  script.runInThisContext().call(m.exports, m.exports, Module.createRequire(file), m, file, path.dirname(file));
  m.loaded = true;
  const fresh = cachedData === undefined || script.cachedDataRejected === true;
  return {
    exports: m.exports,
    save() {
      if (!fresh) return;
      const temp = `${cacheFile}.${process.pid}.tmp`;
      try {
        // The cache base ($XDG_CACHE_HOME or ~/.cache) is made if need be, but never a missing home above it.
        for (const d of [path.dirname(dir), dir]) {
          try {
            fs.mkdirSync(d, { mode: 0o700 });
          } catch (e) {
            if (e.code !== 'EEXIST') throw e;
          }
        }
        if (!ours(dir, 'dir')) return;
        fs.writeFileSync(temp, script.createCachedData(), { mode: 0o600, flag: 'wx' });
        fs.renameSync(temp, cacheFile);
        // Caches of earlier bundles (another version of ffaudit or of Node) are of no more use.
        for (const name of fs.readdirSync(dir)) {
          if (/^capture-[0-9a-f]{32}\.v8$/.test(name) && path.join(dir, name) !== cacheFile) fs.rmSync(path.join(dir, name), { force: true });
        }
      } catch {
        // A read-only home, a full disk, a file where the directory should be: the next run compiles again.
        try {
          fs.rmSync(temp, { force: true });
        } catch {
          // nothing was written
        }
      }
    },
  };
}

module.exports = { requireCached };
