/**
 * V8's perf map (`/tmp/perf-<pid>.map`, written when Node runs with
 * `--perf-basic-prof`): names for the addresses of JIT code, which native
 * tracers cannot name. Read only when this process's user wrote it since the
 * process started.
 *
 * @internal
 */
import * as fs from "node:fs"

/** V8's perf map for `pid` (`--perf-basic-prof`). */
export const perfMapPath = (pid: number): string => `/tmp/perf-${pid}.map`

/** When this process started, in ms since the epoch. */
const processStart = () => Date.now() - process.uptime() * 1000

/**
 * Opens V8's perf map when it is a regular file owned by this process's user
 * and written since this process started, else undefined. `/tmp` is shared:
 * a file another user put at that path (a FIFO, whose read would never end; a
 * symlink; made-up names) is not read, nor the stale map of an earlier
 * process that had the same pid. `O_NONBLOCK` keeps the open itself from
 * waiting on a FIFO.
 */
export const openPerfMap = async (
  file: string,
  notBefore: number = processStart() - 1000
): Promise<fs.promises.FileHandle | undefined> => {
  let handle: fs.promises.FileHandle
  try {
    handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK)
  } catch {
    return undefined
  }
  const stats = await handle.stat().catch(() => undefined)
  if (stats !== undefined && stats.isFile() && stats.uid === process.getuid?.() && stats.mtimeMs >= notBefore) {
    return handle
  }
  await handle.close()
  return undefined
}

/**
 * Names `addresses` (sorted) from a perf map opened by {@link openPerfMap}
 * (`<start> <size> <name>` per line, hex), and closes it. A later line wins:
 * V8 appends, and reuses freed code space.
 */
export const resolvePerfMap = async (
  map: fs.promises.FileHandle,
  addresses: ReadonlyArray<number>
): Promise<ReadonlyMap<number, string>> => {
  const names = new Map<number, string>()
  try {
    if (addresses.length > 0) await readPerfMap(map, addresses, names)
  } finally {
    await map.close()
  }
  return names
}

const readPerfMap = async (
  map: fs.promises.FileHandle,
  addresses: ReadonlyArray<number>,
  names: Map<number, string>
) => {
  for await (const line of map.readLines({ encoding: "utf8", autoClose: false })) {
    const first = line.indexOf(" ")
    const second = line.indexOf(" ", first + 1)
    if (first <= 0 || second <= first) continue
    const start = parseInt(line.slice(0, first), 16)
    const end = start + parseInt(line.slice(first + 1, second), 16)
    if (!Number.isFinite(start) || !Number.isFinite(end)) continue
    // The first address >= start, then every one below end.
    let lo = 0
    let hi = addresses.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (addresses[mid]! < start) lo = mid + 1
      else hi = mid
    }
    for (let i = lo; i < addresses.length && addresses[i]! < end; i++) names.set(addresses[i]!, line.slice(second + 1))
  }
}

/**
 * Names for `addresses` from the perf map at `map`, when it may be read (see
 * {@link openPerfMap}); `addresses` is computed only then.
 */
export const jitNames = async (
  map: string,
  addresses: () => Promise<ReadonlyArray<number>>
): Promise<ReadonlyMap<number, string>> => {
  const handle = await openPerfMap(map)
  if (handle === undefined) return new Map()
  let sorted: ReadonlyArray<number>
  try {
    sorted = await addresses()
  } catch (error) {
    await handle.close()
    throw error
  }
  return resolvePerfMap(handle, sorted)
}
