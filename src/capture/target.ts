/**
 * What an FFmpeg file name denotes: a local file (recorded absolute), a pipe (`-`, `pipe:`, `pipe:N`), a network
 * URL (recorded redacted, never hashed), or nothing on disk at all (lavfi graphs, capture devices, the null muxer).
 */
import { isAbsolute, resolve } from 'node:path';

export type Target =
  | { kind: 'file'; path: string }
  | { kind: 'pipe'; fd: number; path: string }
  | { kind: 'url'; url: string }
  | { kind: 'virtual' };

/** Formats whose "file name" is a graph, a device or nothing. */
const VIRTUAL_FORMATS = new Set([
  'lavfi', 'null', 'x11grab', 'v4l2', 'video4linux2', 'alsa', 'pulse', 'oss', 'jack', 'sndio', 'openal', 'fbdev', 'kmsgrab',
  'avfoundation', 'dshow', 'gdigrab', 'vfwcap', 'decklink', 'libcdio', 'iec61883', 'dv1394', 'sdl', 'sdl2', 'xv', 'opengl',
  'caca', 'audiotoolbox', 'android_camera', 'lavfi_graph',
]);

export function classifyTarget(name: string, role: 'input' | 'output', format: string | null, cwd: string): Target {
  if (format && VIRTUAL_FORMATS.has(format)) return { kind: 'virtual' };
  if (name === '-' || name === 'pipe:' || name === 'pipe') {
    const fd = role === 'input' ? 0 : 1;
    return { kind: 'pipe', fd, path: `pipe:${fd}` };
  }
  const pipe = /^pipe:(\d+)$/.exec(name);
  if (pipe) return { kind: 'pipe', fd: Number(pipe[1]), path: `pipe:${Number(pipe[1])}` };
  if (name.startsWith('file:')) {
    const p = name.slice(5);
    return { kind: 'file', path: isAbsolute(p) ? resolve(p) : resolve(cwd, p) };
  }
  // A protocol prefix: scheme:// for network URLs; other registered protocols (fd:, tcp:, crypto:…) are not files.
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(name) || /^(fd|tcp|udp|rtp|srt|rtmp|unix|crypto|data|subfile|concat|concatf|cache|async|ipfs|ipns|gopher|rist|zmq|sctp|tls|md5|hls|amqp|librist|libsrt|libssh|sftp|smb|icecast):/.test(name)) {
    return { kind: 'url', url: name };
  }
  return { kind: 'file', path: isAbsolute(name) ? resolve(name) : resolve(cwd, name) };
}

/** `img%03d.png`, `out-%d.ts`: an FFmpeg image-sequence / segment pattern (av_get_frame_filename). */
export function isSequencePattern(name: string): boolean {
  return /%0?\d*d/.test(name.replace(/%%/g, ''));
}

/** A regular expression matching the file names a sequence pattern expands to. */
export function sequenceRegExp(base: string): RegExp {
  let re = '';
  for (let i = 0; i < base.length; i++) {
    const c = base[i]!;
    if (c === '%') {
      if (base[i + 1] === '%') {
        re += '%';
        i++;
        continue;
      }
      const m = /^%(0?)(\d*)d/.exec(base.slice(i));
      if (m) {
        re += m[1] && m[2] ? `\\d{${Number(m[2])},}` : '\\d+';
        i += m[0].length - 1;
        continue;
      }
    }
    re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}
