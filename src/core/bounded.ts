/**
 * Collecting a body whose size someone else chose (an HTTP request or answer): the chunks are taken until `max`
 * bytes are exceeded, and then the reading stops with the caller's error. Pure over the chunks it is handed (no I/O
 * of its own); leaving a `for await` early cancels a web ReadableStream, so nothing more is read or buffered.
 */
export async function collectBounded(chunks: AsyncIterable<Uint8Array>, max: number, tooLarge: () => Error): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of chunks) {
    total += chunk.byteLength;
    if (total > max) throw tooLarge();
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}
