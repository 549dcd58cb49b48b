/**
 * Read buffers kept for the next upload while uploads run: `putDir` sends
 * many small files, and a fresh buffer per file costs page faults and
 * garbage collection (~10 ms of the event loop over 200 files of 100 KiB,
 * measured). A buffer comes back only once the socket has taken its bytes;
 * the spares are dropped one second after the last upload ends, so an idle
 * process holds none.
 *
 * @internal
 */

/** At most this many spares are kept (one per upload running at once, up to this). */
const MAX_SPARES = 16
/** How long spares outlive the last upload. */
const LINGER_MILLIS = 1_000

const spares: Array<Buffer> = []
let running = 0
let sweep: NodeJS.Timeout | undefined

/** A buffer of `size` bytes (a spare when one fits), for an upload that starts. */
export const take = (size: number): Buffer => {
  running++
  const spare = spares.pop()
  return spare !== undefined && spare.length === size ? spare : Buffer.allocUnsafe(size)
}

/** The upload that took a buffer is done with it: kept when `reusable` (nothing refers to its bytes any more). */
export const release = (buffer: Buffer, reusable: boolean): void => {
  running--
  if (reusable && spares.length < MAX_SPARES) spares.push(buffer)
  if (running > 0 || sweep !== undefined) return
  sweep = setTimeout(() => {
    sweep = undefined
    if (running === 0) spares.length = 0
  }, LINGER_MILLIS)
  sweep.unref()
}

/** How many uploads hold a buffer now (0 once every upload has ended). */
export const inUse = (): number => running
