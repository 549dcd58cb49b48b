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
import { type Context, labels } from "../snapshot/threads.js"
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

/** Whether `file` has a line that is exactly `wanted` (false when it cannot be read). */
export const hasLine = async (file: string, wanted: string): Promise<boolean> => {
  try {
    for await (const line of lines(file)) if (line === wanted) return true
  } catch {
    // unreadable: not found
  }
  return false
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
