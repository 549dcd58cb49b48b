/**
 * Post-processing a gdb snapshot once gdb has detached:
 *
 * - frames gdb could not name (`0x… in ?? ()`) are named from V8's
 *   `/tmp/perf-<pid>.map` when the process runs with `--perf-basic-prof`
 *   (only a map this user wrote since the process started is read);
 * - each thread's heading gets a role (`[main thread]`, `[libuv threadpool]`,
 *   …) and `[faulted]` / `[caller]` for the calling thread;
 * - whether gdb's end marker is there (gdb ran to the end) is reported.
 *
 * The file is rewritten to a sibling (0600) and renamed over the original, so
 * a failure leaves gdb's own output in place.
 *
 * @internal
 */
import * as fs from "node:fs"
import * as readline from "node:readline"
import { END_MARKER } from "./command.js"

/** `0x00007f… in ?? (` */
const UNNAMED = /0x([0-9a-f]+) in \?\? \(/g
/** `Thread 3 (Thread 0x7f… (LWP 1234) "node"):` */
const THREAD_HEADING = /^Thread \d+ \(.*\(LWP (\d+)\).*\):$/

const lines = (file: string) =>
  readline.createInterface({ input: fs.createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity })

/** The addresses of the frames gdb printed as `??`. */
export const unnamedAddresses = async (file: string): Promise<ReadonlyArray<number>> => {
  const found = new Set<number>()
  for await (const line of lines(file)) {
    for (const match of line.matchAll(UNNAMED)) found.add(parseInt(match[1]!, 16))
  }
  return [...found].sort((a, b) => a - b)
}

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

/** Names for the `??` frames of `snapshot` from the perf map at `map`, when it may be read (see {@link openPerfMap}). */
export const jitNames = async (map: string, snapshot: string): Promise<ReadonlyMap<number, string>> => {
  const handle = await openPerfMap(map)
  if (handle === undefined) return new Map()
  let addresses: ReadonlyArray<number>
  try {
    addresses = await unnamedAddresses(snapshot)
  } catch (error) {
    await handle.close()
    throw error
  }
  return resolvePerfMap(handle, addresses)
}

/** The role of a thread, read off its frames. */
export const threadRole = (lwp: number, pid: number, frames: string): string | undefined => {
  if (lwp === pid) return "main thread"
  if (/node::worker::Worker::(StartThread|Run)\b/.test(frames)) return "worker_threads Worker"
  if (/\bworker \(/.test(frames) && /uv_cond_wait|threadpool\.c/.test(frames)) return "libuv threadpool"
  if (/PlatformWorkerThread/.test(frames)) return "V8 platform worker"
  if (/DelayedTaskScheduler/.test(frames)) return "V8 delayed-task scheduler"
  if (/inspector/i.test(frames)) return "inspector I/O"
  if (/SignalInspectorWakeup|StartIoThreadWakeup/.test(frames)) return "signal watcher"
  return undefined
}

/** What the rewrite needs to know about the trace. */
export interface Context {
  readonly pid: number
  readonly tid: number | undefined
  readonly faulted: boolean
}

const labels = (context: Context, lwp: number, frames: string): ReadonlyArray<string> => {
  const role = threadRole(lwp, context.pid, frames)
  const mark = lwp === context.tid ? (context.faulted ? "faulted" : "caller") : undefined
  return [role, mark].filter((l): l is string => l !== undefined)
}

/** What a rewrite did. */
export interface Summary {
  /** Frames named from the perf map. */
  readonly jitFrames: number
  /** Thread headings seen (threads backtraced). */
  readonly threads: number
  /** gdb's end marker is there: gdb ran every command. */
  readonly complete: boolean
}

/**
 * Rewrites `file` in place (through a 0600 sibling and a rename): names JIT
 * frames from `names`, labels thread headings.
 */
export const rewrite = async (
  file: string,
  context: Context,
  names: ReadonlyMap<number, string>
): Promise<Summary> => {
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`
  const out = fs.createWriteStream(temporary, { flags: "wx", mode: 0o600, encoding: "utf8" })
  let jitFrames = 0
  let threads = 0
  let complete = false
  const write = (text: string) =>
    out.write(text) ? Promise.resolve() : new Promise<void>((resolve) => out.once("drain", () => resolve()))
  // A thread's heading is held back until its frames (up to a blank line) are read.
  let heading: { line: string; lwp: number } | undefined
  let frames: Array<string> = []
  const flush = async () => {
    if (heading === undefined) return
    const text = frames.join("\n")
    const l = labels(context, heading.lwp, text)
    await write(`${heading.line}${l.length === 0 ? "" : ` [${l.join(", ")}]`}\n${frames.map((f) => `${f}\n`).join("")}`)
    heading = undefined
    frames = []
  }
  try {
    await new Promise<void>((resolve, reject) => {
      out.once("open", () => resolve())
      out.once("error", reject)
    })
    for await (const raw of lines(file)) {
      const line = raw.includes("?? (")
        ? raw.replace(UNNAMED, (whole, hex: string) => {
          const name = names.get(parseInt(hex, 16))
          if (name === undefined) return whole
          jitFrames++
          return `0x${hex} in ${name} (`
        })
        : raw
      if (line === END_MARKER) complete = true
      const thread = THREAD_HEADING.exec(line)
      if (thread !== null) {
        await flush()
        threads++
        heading = { line, lwp: Number(thread[1]) }
      } else if (heading !== undefined && line !== "") {
        frames.push(line)
      } else {
        await flush()
        await write(`${line}\n`)
      }
    }
    await flush()
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())))
    await fs.promises.rename(temporary, file)
    return { jitFrames, threads, complete }
  } catch (error) {
    out.destroy()
    await fs.promises.rm(temporary, { force: true })
    throw error
  }
}
