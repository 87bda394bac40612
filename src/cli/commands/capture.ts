/** `ffaudit ffmpeg|ffprobe ARGS…`: not yet implemented in this build. */
import { FfauditError } from '../../core/errors.js';
import type { CaptureInvocation } from '../main.js';

// eslint-disable-next-line @typescript-eslint/require-await
export async function runCapture(inv: CaptureInvocation): Promise<number> {
  throw new FfauditError('USAGE', `ffaudit ${inv.tool} is not available yet`);
}
