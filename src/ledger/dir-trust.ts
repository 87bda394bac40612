/**
 * Whether a folder may hold a ledger this user makes: whoever else can write to the ledger's folder (or rename it
 * away in its parent) can replace the database, the keys and the config between two commands, and a folder
 * owned by another user is theirs to change. The checks use the folder's owner and mode bits as stat(2) gives
 * them; ACLs and capabilities are not consulted.
 */
import { readFileSync, type Stats } from 'node:fs';
import { FfauditError } from '../core/errors.js';

/** The effective user id, or undefined where the platform has none (ownership is then not checked). */
function euid(): number | undefined {
  return typeof process.geteuid === 'function' ? process.geteuid() : undefined;
}

/** "alice (uid 1000)": the name from /etc/passwd where it is listed there. */
export function userLabel(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && f[2] === String(uid) && f[0]) return `${f[0]} (uid ${uid})`;
    }
  } catch {
    // no passwd file: the number alone
  }
  return `uid ${uid}`;
}

/**
 * Whether `gid` is this user's private group (the user-private-group convention of many distributions, where the
 * umask is 002 and folders are group-writable): a group named as the user, with no other member listed.
 */
function isPrivateGroup(gid: number, uid: number): boolean {
  const user = userLabel(uid).split(' ')[0];
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 4 && f[2] === String(gid)) return f[0] === user && f[3]!.split(',').every((m) => m === '' || m === user);
    }
  } catch {
    // no group file: not known to be private
  }
  return false;
}

/** Whether users other than the owner can write to the folder (mode bits; a private group does not count). */
function othersCanWrite(st: Stats): boolean {
  return (st.mode & 0o002) !== 0 || ((st.mode & 0o020) !== 0 && !isPrivateGroup(st.gid, st.uid));
}

const modeText = (st: Stats) => (st.mode & 0o7777).toString(8).padStart(4, '0');

/** Who owns a file and its mode, for messages: "owned by bob (uid 1001), mode 0700". */
export function ownerText(st: Stats): string {
  return `owned by ${userLabel(st.uid)}, mode ${modeText(st)}`;
}

/** The ledger's own folder: owned by this user, writable by nobody else. */
export function checkLedgerDir(path: string, st: Stats): void {
  const me = euid();
  if (me === undefined) return;
  if (st.uid !== me) {
    throw new FfauditError('USAGE', `refusing ${path}: it is ${ownerText(st)}, not by you (${userLabel(me)}), so its owner could replace the ledger's files`);
  }
  if (othersCanWrite(st)) {
    throw new FfauditError('USAGE', `refusing ${path}: other users can write to it (mode ${modeText(st)}); a ledger's folder must be writable by its owner only (chmod go-w)`);
  }
}

/**
 * The folder that holds the ledger's folder: owned by this user or by root, and writable by others only when
 * sticky (like /tmp), where they cannot rename or remove what is not theirs (the sticky bit, inode(7)).
 */
export function checkParentDir(path: string, st: Stats): void {
  const me = euid();
  if (me === undefined) return;
  if (st.uid !== me && st.uid !== 0) {
    throw new FfauditError('USAGE', `refusing to make a ledger in ${path}: it is ${ownerText(st)}, who could move the ledger's folder away and put another in its place`);
  }
  if (othersCanWrite(st) && !(st.mode & 0o1000)) {
    throw new FfauditError('USAGE', `refusing to make a ledger in ${path}: other users can write to it (mode ${modeText(st)}) and could replace the ledger's folder`);
  }
}

/** A symbolic link at the ledger's path: made by this user or by root, else someone else chose where it leads. */
export function checkLink(path: string, st: Stats): void {
  const me = euid();
  if (me === undefined) return;
  if (st.uid !== me && st.uid !== 0) {
    throw new FfauditError('USAGE', `refusing ${path}: it is a symbolic link made by ${userLabel(st.uid)}, not by you`);
  }
}
