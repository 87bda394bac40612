/**
 * What an FFmpeg command line says it will read and write, before it runs: `-i` operands (with the `-f` given
 * for each), output operands (arguments that are neither options nor option values), and whether the user asked
 * for a report (`-report`). FFmpeg's rule (fftools/cmdutils.c): every option takes one value unless it is a
 * boolean flag; anything else that does not start with '-' (and a lone '-') names an output.
 *
 * This is deliberately conservative: FFmpeg's own report (Opening … lines) is the authority on what was touched;
 * this scan only tells us, before FFmpeg starts, which inputs to hash while it runs.
 */

/** FFmpeg 4.x–7.x options that take no value (plus the `-no<flag>` negations FFmpeg accepts for booleans). */
const FLAGS = new Set([
  'y', 'n', 'an', 'vn', 'sn', 'dn', 'hide_banner', 'nostdin', 'stdin', 'stats', 'nostats', 'shortest', 'report', 'copyts',
  'start_at_zero', 're', 'benchmark', 'benchmark_all', 'debug_ts', 'ignore_unknown', 'copy_unknown', 'accurate_seek',
  'noaccurate_seek', 'xerror', 'autorotate', 'noautorotate', 'autoscale', 'noautoscale', 'dump', 'hex', 'vstats', 'intra',
  'psnr', 'bitexact', 'find_stream_info', 'nofind_stream_info', 'print_graphs', 'stats_enc', 'L', 'h', '?', 'help',
  'version', 'buildconf', 'formats', 'muxers', 'demuxers', 'devices', 'codecs', 'decoders', 'encoders', 'bsfs', 'protocols',
  'filters', 'pix_fmts', 'layouts', 'sample_fmts', 'colors', 'hwaccels', 'dispositions', 'qphist', 'deinterlace', 'sameq',
  'same_quant', 'fix_sub_duration', 'apad_shortest', 'reinit_filter_disable', 'stream_loop_disable', 'guess_layout_max_disable',
  'exit_on_error', 'shortest_buf_duration_disable', 'show_format', 'show_streams', 'show_packets', 'show_frames',
  'show_data', 'show_error', 'show_chapters', 'show_programs', 'show_versions', 'show_library_versions', 'show_pixel_formats',
  'show_program_version', 'count_frames', 'count_packets', 'pretty', 'unit', 'prefix', 'byte_binary_prefix', 'sexagesimal',
  'show_private_data', 'private', 'show_data_hash_disable', 'bitexact',
]);

export interface OperandSpec {
  /** The argument as given. */
  name: string;
  /** Its index in argv. */
  argIndex: number;
  /** The `-f` given before it, if any. */
  format: string | null;
}

export interface CommandIntent {
  inputs: OperandSpec[];
  outputs: OperandSpec[];
  /** The user passed `-report`. */
  report: boolean;
  /** Values of filter-graph options (`-vf`, `-af`, `-filter_complex`, `-lavfi`, `-filter*`). */
  filtergraphs: string[];
}

function takesValue(opt: string): boolean {
  const base = opt.split(':')[0]!;
  return !FLAGS.has(base);
}

export function scanFfmpegArgs(argv: readonly string[]): CommandIntent {
  const intent: CommandIntent = { inputs: [], outputs: [], report: false, filtergraphs: [] };
  let format: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.length > 1 && a.startsWith('-')) {
      const opt = a.slice(1);
      if (opt === 'report') intent.report = true;
      if (!takesValue(opt)) continue;
      const v = argv[i + 1];
      if (v === undefined) break;
      i++;
      if (opt === 'i') {
        intent.inputs.push({ name: v, argIndex: i, format });
        format = null;
      } else if (opt === 'f') format = v;
      else if (/^(vf|af|lavfi|filter_complex|filter(:.*)?|filter_script.*)$/.test(opt)) intent.filtergraphs.push(v);
      continue;
    }
    intent.outputs.push({ name: a, argIndex: i, format });
    format = null;
  }
  return intent;
}

/** ffprobe names one input: the first argument that is neither an option nor an option value (or `-i X`). */
export function scanFfprobeArgs(argv: readonly string[]): CommandIntent {
  const intent: CommandIntent = { inputs: [], outputs: [], report: false, filtergraphs: [] };
  let format: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.length > 1 && a.startsWith('-')) {
      const opt = a.slice(1);
      if (opt === 'report') intent.report = true;
      if (!takesValue(opt)) continue;
      const v = argv[i + 1];
      if (v === undefined) break;
      i++;
      if (opt === 'i') intent.inputs.push({ name: v, argIndex: i, format });
      else if (opt === 'f') format = v;
      continue;
    }
    intent.inputs.push({ name: a, argIndex: i, format });
  }
  return intent;
}
