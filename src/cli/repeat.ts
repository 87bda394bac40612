/** The long-running commands' loop (`archive --watch`, `monitor` without --once). */

/**
 * Runs `round`, waits `everyMs`, and again, until SIGINT or SIGTERM (a round in progress finishes first; the wait
 * does not) or until a round returns a number, which is then returned. Undefined when a signal ended it.
 */
export async function repeatUntilSignalled(everyMs: number, round: () => Promise<number | undefined>): Promise<number | undefined> {
  let stop: () => void = () => undefined;
  let stopped = false;
  const stopped$ = new Promise<void>((resolve) => {
    stop = () => {
      stopped = true;
      resolve();
    };
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    while (!stopped) {
      const status = await round();
      if (status !== undefined) return status;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped$, new Promise<void>((resolve) => (timer = setTimeout(resolve, everyMs)))]);
      clearTimeout(timer);
    }
    return undefined;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
