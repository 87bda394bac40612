/**
 * What an FFmpeg or FFprobe command line names: inputs, outputs, their forced formats, and the other files
 * FFmpeg will read (filter sources, scripts, attachments). Pure: the argv is only read, nothing is opened.
 *
 * The grammar follows fftools/cmdutils.c `split_commandline` (FFmpeg 4.x to 7.x):
 * - an argument that does not start with '-', or is exactly '-', or follows a bare '--', is an output name;
 * - `-i X` ends an input group; options before an input or output apply to that file (`-f` among them);
 * - an option name may carry a stream specifier after ':' (`-c:v`, `-b:a:0`, `-map_metadata:s:a`);
 * - an option takes the next argument unless it is a boolean flag (or `-no<flag>`); options FFmpeg does not know
 *   itself are AVOptions of a codec, format or protocol, and those always take a value;
 * - FFmpeg 7 reads an option's value from a file when the name is prefixed with '/' (`-/filter_complex FILE`).
 *
 * The argv comes from the user and may be hostile: nothing here is trusted to be well formed, and no value is
 * evaluated beyond splitting it as FFmpeg would.
 */

export interface ArgsAnalysis {
  /** Raw values of each -i, in order ('-', 'pipe:0', URLs, 'img%03d.png', …). */
  inputs: string[];
  /** The -f given before each -i (e.g. 'concat', 'image2', 'lavfi'), or null. */
  inputFormats: (string | null)[];
  /** Raw output targets, in order; a tee muxer's output is listed as each of its targets. */
  outputs: string[];
  /** The -f for each output (for a tee target: its `f=` option), or null. */
  outputFormats: (string | null)[];
  /** Files named by movie=/amovie=/subtitles=/ass= inside filtergraph option values, unescaped. */
  filterSources: string[];
  /** Other files FFmpeg will read, named by options: -filter_complex_script, -attach, filter files, … */
  otherInputFiles: string[];
  /** Files FFmpeg writes besides its outputs, named by options: -progress, -vstats_file, -sdp_file, … */
  otherOutputFiles: string[];
  /** -report given: the user asked for their own report file. */
  userReport: boolean;
}

/**
 * Options that take no value (OPT_BOOL and argument-less function options of ffmpeg, ffprobe and cmdutils,
 * FFmpeg 4.x to 7.x). `-noX` negates a boolean X. Everything else takes a value.
 */
const FFMPEG_FLAGS = new Set([
  // cmdutils
  'report', 'hide_banner', 'y', 'n',
  // ffmpeg global
  'ignore_unknown', 'copy_unknown', 'recast_media', 'benchmark', 'benchmark_all', 'stdin', 'stats', 'dump', 'hex',
  'copyts', 'start_at_zero', 'debug_ts', 'xerror', 'psnr', 'vstats', 'qphist', 'auto_conversion_filters',
  'print_graphs', 'intra', 'sameq', 'same_quant', 'deinterlace',
  // per file / per stream
  're', 'shortest', 'bitexact', 'copyinkf', 'accurate_seek', 'find_stream_info', 'vn', 'an', 'sn', 'dn',
  'fix_sub_duration', 'fix_sub_duration_heartbeat', 'force_fps',
]);

/**
 * Per-stream booleans that take a value (`-autorotate 0`) but whose `-no` form takes none (`-noautorotate`).
 * Checked against FFmpeg 4.x and 5.1 by experiment: their split of the command line is logged in the report.
 */
const FFMPEG_VALUED_BOOLEANS = new Set(['autorotate', 'autoscale']);

/** Options that print information and exit; like FFmpeg, they swallow the next argument when there is one. */
const EXIT_OPTIONS = new Set([
  'h', '?', 'help', '-help', 'L', 'version', 'buildconf', 'formats', 'muxers', 'demuxers', 'devices', 'codecs',
  'decoders', 'encoders', 'bsfs', 'protocols', 'filters', 'pix_fmts', 'layouts', 'sample_fmts', 'dispositions',
  'colors', 'hwaccels', 'sources', 'sinks', 'license',
]);

const FFPROBE_FLAGS = new Set([
  'report', 'hide_banner', 'y', 'n', 'bitexact', 'find_stream_info', 'unit', 'prefix', 'byte_binary_prefix',
  'sexagesimal', 'pretty', 'show_data', 'show_error', 'show_format', 'show_frames', 'show_packets', 'show_programs',
  'show_stream_groups', 'show_streams', 'show_chapters', 'count_frames', 'count_packets', 'show_program_version',
  'show_library_versions', 'show_versions', 'show_pixel_formats', 'show_private_data', 'private', 'show_optional_fields',
  'analyze_frames',
]);
// show_optional_fields takes a value in FFmpeg 5.0+; keep the table truthful to the versions people run.
FFPROBE_FLAGS.delete('show_optional_fields');

/** Filtergraph-valued options (after stripping a stream specifier). */
const FILTER_OPTIONS = new Set(['vf', 'af', 'filter', 'filter_complex', 'lavfi']);
/** Options whose value names a file FFmpeg reads. */
const READ_FILE_OPTIONS = new Set(['filter_complex_script', 'filter_script', 'attach', 'fpre', 'i_qfactor_file']);
/** Options whose value names a file FFmpeg writes (besides the outputs). */
const WRITE_FILE_OPTIONS = new Set(['progress', 'vstats_file', 'sdp_file', 'dump_attachment', 'stats_enc_pre', 'stats_enc_post', 'stats_mux_pre']);

interface ParsedOption {
  name: string; // without '-', without stream specifier
  value: string | null;
  fromFile: boolean; // FFmpeg 7 '-/opt file'
}

/** The option name without its leading '-' and stream specifier; `fromFile` when FFmpeg 7's '/' prefix is used. */
function optionName(arg: string): { name: string; fromFile: boolean } {
  let body = arg.slice(1);
  let fromFile = false;
  if (body.startsWith('/')) {
    fromFile = true;
    body = body.slice(1);
  }
  const colon = body.indexOf(':');
  return { name: colon >= 0 ? body.slice(0, colon) : body, fromFile };
}

function takesValue(name: string, flags: ReadonlySet<string>): boolean {
  if (flags.has(name)) return false;
  const negated = name.slice(2);
  if (name.startsWith('no') && (flags.has(negated) || (flags === FFMPEG_FLAGS && FFMPEG_VALUED_BOOLEANS.has(negated)))) return false;
  return true;
}

/** A split command line: each option with its value, and where files (inputs or outputs) end a group. */
type Token = { kind: 'option'; option: ParsedOption } | { kind: 'input'; value: string } | { kind: 'output'; value: string };

/**
 * `positional` is what a bare argument is. After `--`, ffmpeg (split_commandline) takes only the next argument as
 * a file name, while ffprobe (parse_options) stops reading options altogether.
 */
function tokenize(argv: readonly string[], flags: ReadonlySet<string>, positional: 'output' | 'input'): Token[] {
  const out: Token[] = [];
  let i = 0;
  let dashdash = -2;
  let optionsEnded = false;
  while (i < argv.length) {
    const arg = argv[i++]!;
    if (arg === '--' && !optionsEnded) {
      dashdash = i;
      if (positional === 'input') optionsEnded = true;
      continue;
    }
    if (optionsEnded || !arg.startsWith('-') || arg === '-' || dashdash === i - 1) {
      out.push({ kind: positional, value: arg });
      continue;
    }
    const { name, fromFile } = optionName(arg);
    if (name === 'i' && !fromFile) {
      if (i < argv.length) out.push({ kind: 'input', value: argv[i++]! });
      continue;
    }
    if (EXIT_OPTIONS.has(name)) {
      i++;
      out.push({ kind: 'option', option: { name, value: null, fromFile } });
      continue;
    }
    if (takesValue(name, flags)) {
      const value = argv[i++] ?? null;
      out.push({ kind: 'option', option: { name, value, fromFile } });
    } else {
      out.push({ kind: 'option', option: { name, value: null, fromFile } });
    }
  }
  return out;
}

export function analyzeFfmpegArgs(argv: readonly string[]): ArgsAnalysis {
  const result: ArgsAnalysis = {
    inputs: [],
    inputFormats: [],
    outputs: [],
    outputFormats: [],
    filterSources: [],
    otherInputFiles: [],
    otherOutputFiles: [],
    userReport: false,
  };
  let format: string | null = null;
  for (const t of tokenize(argv, FFMPEG_FLAGS, 'output')) {
    if (t.kind === 'input') {
      result.inputs.push(t.value);
      result.inputFormats.push(format);
      // A lavfi input is a filtergraph, not a file; its movie=/subtitles= filters read files.
      if (format === 'lavfi') collectFilterFiles(t.value, result);
      format = null;
      continue;
    }
    if (t.kind === 'output') {
      if (format === 'tee') {
        for (const target of parseTeeTargets(t.value)) {
          result.outputs.push(target.path);
          result.outputFormats.push(target.format);
        }
      } else {
        result.outputs.push(t.value);
        result.outputFormats.push(format);
      }
      format = null;
      continue;
    }
    const { name, value, fromFile } = t.option;
    if (name === 'report') result.userReport = true;
    if (value === null) continue;
    if (fromFile) {
      result.otherInputFiles.push(value);
      continue;
    }
    if (name === 'f') format = value;
    else if (FILTER_OPTIONS.has(name)) collectFilterFiles(value, result);
    else if (READ_FILE_OPTIONS.has(name)) result.otherInputFiles.push(value);
    else if (WRITE_FILE_OPTIONS.has(name)) result.otherOutputFiles.push(value);
  }
  return result;
}

/** FFprobe reads one input: `-i X`, or the positional argument; `inputFormats` as for FFmpeg (`-f lavfi`…). */
export function analyzeFfprobeArgs(argv: readonly string[]): { inputs: string[]; inputFormats: (string | null)[] } {
  const inputs: string[] = [];
  const inputFormats: (string | null)[] = [];
  let format: string | null = null;
  for (const t of tokenize(argv, FFPROBE_FLAGS, 'input')) {
    if (t.kind === 'input') {
      inputs.push(t.value);
      inputFormats.push(format);
    } else if (t.kind === 'option' && t.option.name === 'f' && t.option.value !== null) {
      format = t.option.value;
    }
  }
  return { inputs, inputFormats };
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens as libavutil's av_get_token reads them (libavutil/avstring.c): leading whitespace skipped, a backslash
// makes the next character literal, '…' quotes everything up to the next quote, trailing unquoted whitespace
// dropped, stops at any character of `term`.

const WHITESPACE = ' \n\t\r';

/** Reads one token from `s` at `pos`; returns it and the position of the terminator (or the end). */
export function getToken(s: string, pos: number, term: string): { token: string; end: number } {
  let p = pos;
  while (p < s.length && WHITESPACE.includes(s[p]!)) p++;
  let out = '';
  let keep = 0; // length of `out` that must survive trailing-whitespace trimming (escaped or quoted text)
  while (p < s.length && !term.includes(s[p]!)) {
    const c = s[p++]!;
    if (c === '\\' && p < s.length) {
      out += s[p++]!;
      keep = out.length;
    } else if (c === "'") {
      while (p < s.length && s[p] !== "'") out += s[p++]!;
      if (p < s.length) p++;
      keep = out.length;
    } else {
      out += c;
    }
  }
  let end = out.length;
  while (end > keep && WHITESPACE.includes(out[end - 1]!)) end--;
  return { token: out.slice(0, end), end: p };
}

// ---------------------------------------------------------------------------------------------------------------
// The tee muxer's output name (libavformat/tee.c): targets separated by '|', each optionally prefixed by
// `[key=value:key=value]`, both read with av_get_token.

export function parseTeeTargets(spec: string): { path: string; format: string | null }[] {
  const targets: { path: string; format: string | null }[] = [];
  let pos = 0;
  while (pos < spec.length) {
    const { token, end } = getToken(spec, pos, '|');
    pos = end < spec.length ? end + 1 : end;
    let slave = token;
    let format: string | null = null;
    if (slave.startsWith('[')) {
      const { token: opts, end: optEnd } = getToken(slave, 1, ']');
      slave = slave.slice(optEnd + 1);
      for (const [k, v] of parseOptionList(opts)) if (k === 'f') format = v;
    }
    if (slave !== '') targets.push({ path: slave, format });
  }
  return targets;
}

// ---------------------------------------------------------------------------------------------------------------
// Filtergraphs (libavfilter/graphparser.c): chains separated by ';', filters by ',', link labels in [..],
// `name[@instance][=args]`. Arguments are unescaped twice, once by the graph parser and once by the option
// parser (av_opt_get_key_value: `key=value` pairs separated by ':', a value without a key goes to the filter's
// next positional option).

/** Filters that read files: which option names (and aliases) hold the file, and which positional slot does. */
const FILE_FILTERS: Record<string, { keys: string[]; positional: number | null; source: boolean }> = {
  movie: { keys: ['filename'], positional: 0, source: true },
  amovie: { keys: ['filename'], positional: 0, source: true },
  subtitles: { keys: ['filename', 'f'], positional: 0, source: true },
  ass: { keys: ['filename', 'f'], positional: 0, source: true },
  drawtext: { keys: ['fontfile', 'textfile'], positional: null, source: false },
  lut3d: { keys: ['file'], positional: 0, source: false },
  lut1d: { keys: ['file'], positional: 0, source: false },
  curves: { keys: ['psfile'], positional: null, source: false },
  selectivecolor: { keys: ['psfile'], positional: null, source: false },
  sendcmd: { keys: ['filename', 'f'], positional: null, source: false },
  asendcmd: { keys: ['filename', 'f'], positional: null, source: false },
  arnndn: { keys: ['model', 'm'], positional: 0, source: false },
  sofalizer: { keys: ['sofa'], positional: 0, source: false },
  vidstabtransform: { keys: ['input'], positional: null, source: false },
};

/** `key=value:key=value` (or bare positional values) as av_opt_get_key_value splits them. */
function parseOptionList(args: string): [string | null, string][] {
  const out: [string | null, string][] = [];
  let pos = 0;
  let keysStarted = false;
  while (pos <= args.length) {
    const keyMatch = /^[A-Za-z0-9_\-/.]+=/.exec(args.slice(pos));
    let key: string | null = null;
    if (keyMatch) {
      key = keyMatch[0].slice(0, -1);
      pos += keyMatch[0].length;
      keysStarted = true;
    } else if (keysStarted) {
      // FFmpeg rejects a positional value after a named one; stop rather than guess.
      break;
    }
    const { token, end } = getToken(args, pos, ':');
    out.push([key, token]);
    if (end >= args.length) break;
    pos = end + 1;
  }
  return out;
}

/**
 * The files a filtergraph description reads, for graphs FFmpeg takes from a file (`-filter_complex_script`,
 * `-/filter_complex`): the caller reads the script, this names what it opens.
 */
export function analyzeFiltergraph(graph: string): { filterSources: string[]; otherInputFiles: string[] } {
  const r: ArgsAnalysis = { inputs: [], inputFormats: [], outputs: [], outputFormats: [], filterSources: [], otherInputFiles: [], otherOutputFiles: [], userReport: false };
  collectFilterFiles(graph, r);
  return { filterSources: r.filterSources, otherInputFiles: r.otherInputFiles };
}

function collectFilterFiles(graph: string, result: ArgsAnalysis): void {
  for (const f of parseFiltergraph(graph)) {
    const spec = FILE_FILTERS[f.name];
    if (!spec || f.args === null) continue;
    let positional = 0;
    for (const [key, value] of parseOptionList(f.args)) {
      let hit = false;
      if (key === null) {
        hit = spec.positional === positional;
        positional++;
      } else if (key.startsWith('/')) {
        // FFmpeg 7: `/opt=FILE` reads the option's value from FILE.
        result.otherInputFiles.push(value);
        continue;
      } else {
        hit = spec.keys.includes(key);
      }
      if (hit && value !== '') (spec.source ? result.filterSources : result.otherInputFiles).push(value);
    }
  }
}

/** The filters of a filtergraph description: name (without @instance) and raw (graph-level unescaped) args. */
export function parseFiltergraph(graph: string): { name: string; args: string | null }[] {
  const filters: { name: string; args: string | null }[] = [];
  let pos = 0;
  const skipWs = () => {
    while (pos < graph.length && WHITESPACE.includes(graph[pos]!)) pos++;
  };
  skipWs();
  if (graph.startsWith('sws_flags=', pos)) {
    const semi = graph.indexOf(';', pos);
    pos = semi < 0 ? graph.length : semi + 1;
  }
  while (pos < graph.length) {
    skipWs();
    while (graph[pos] === '[') {
      const close = graph.indexOf(']', pos);
      pos = close < 0 ? graph.length : close + 1;
      skipWs();
    }
    const { token: rawName, end } = getToken(graph, pos, '=,;[');
    pos = end;
    let args: string | null = null;
    if (graph[pos] === '=') {
      const a = getToken(graph, pos + 1, '[],;');
      args = a.token;
      pos = a.end;
    }
    const at = rawName.indexOf('@');
    if (rawName !== '') filters.push({ name: at >= 0 ? rawName.slice(0, at) : rawName, args });
    skipWs();
    while (graph[pos] === '[') {
      const close = graph.indexOf(']', pos);
      pos = close < 0 ? graph.length : close + 1;
      skipWs();
    }
    if (graph[pos] === ',' || graph[pos] === ';') pos++;
    else if (pos < graph.length && graph[pos] !== '[') pos++; // malformed: skip a character rather than loop
  }
  return filters;
}

// ---------------------------------------------------------------------------------------------------------------
// URLs as libavformat resolves them (libavformat/avio.c url_find_protocol): a name is a protocol URL when its
// leading run of scheme characters is followed by ':' (or by ',,' protocol options); anything else is a file path.
// Some protocols only wrap others: file:, cache:, async:, crypto: / crypto+, subfile: and each part of concat:.

const SCHEME_CHARS = /^[A-Za-z0-9+.-]*/;
/** Protocols whose URL is `<protocol>:<inner URL>`. */
const WRAPPERS = new Set(['cache', 'async', 'crypto', 'subfile']);

/**
 * The local files FFmpeg reads or writes for one input or output name: the path itself for a plain path, the
 * wrapped path for `file:X`, `cache:X`, `async:X`, `crypto:X`/`crypto+X`, `subfile,,…,,:X`, every part of
 * `concat:A|B`, and the list file of `concatf:LIST` (the files it names are read too, but are not in the name).
 * Empty for pipes, network URLs, and protocols FFmpeg does not know (it opens nothing: `a:b.mp4` is protocol `a`).
 */
export function localFilesOf(name: string, depth = 0): string[] {
  if (depth > 8 || name === '' || name === '-') return [];
  const protoLen = SCHEME_CHARS.exec(name)![0].length;
  const next = name.slice(protoLen);
  if (!next.startsWith(':') && !next.startsWith(',,')) return [name];
  const proto = name.slice(0, protoLen).toLowerCase();
  // `proto,,key,value,…,,:rest` carries protocol options before the first ':' after them.
  const colon = next.startsWith(',,') ? next.indexOf(',,:') : 0;
  if (colon < 0) return [];
  const rest = next.slice(next.startsWith(',,') ? colon + 3 : 1);
  if (proto === 'file') return rest === '' ? [] : [rest];
  if (proto === 'concat') return rest.split('|').flatMap((part) => localFilesOf(part, depth + 1));
  if (proto === 'concatf') return localFilesOf(rest, depth + 1);
  if (WRAPPERS.has(proto)) return localFilesOf(rest, depth + 1);
  if (proto.startsWith('crypto+')) return localFilesOf(name.slice('crypto+'.length), depth + 1);
  return [];
}
