/**
 * Post-processing an eu-stack snapshot once eu-stack has exited. eu-stack
 * prints, after our header:
 *
 * ```text
 * PID 4242 - process
 * TID 4242:
 * #0  0x00007f1d95926cae epoll_pwait - /usr/lib/x86_64-linux-gnu/libc.so.6
 *     [93ac61ec…]@0x7f1d9581e000+0x108cae
 * #1  0x00007ff1adfc6e70 - /usr/bin/node
 *     [ebeaf2df…]@0x400000+0x7ff1adbc6e70
 * TID 4250:
 * …
 * ```
 *
 * - each `TID n:` heading gets the thread's role (`[main thread]`,
 *   `[libuv threadpool]`, …) and `faulted` / `caller` for the calling thread;
 * - a frame without a name (JIT code) is named from V8's perf map when the
 *   process runs with `--perf-basic-prof`. eu-stack attributes JIT code to
 *   the nearest module, with a meaningless offset, so a named JIT frame loses
 *   that module and its build-id line;
 * - an end line is added, with eu-stack's exit code and its warnings (exit
 *   1: some frames are missing, for example of a thread that ended while it
 *   was read).
 *
 * The file is rewritten to a sibling (0600) and renamed over the original,
 * so a failure leaves eu-stack's own output in place.
 *
 * @internal
 */
import * as fs from "node:fs"
import * as readline from "node:readline"
import { clean } from "../snapshot/header.js"
import { type Context, labels } from "../snapshot/threads.js"

/** The header's last line: eu-stack's output follows it. */
export const FOLLOWS = "eu-stack's output follows; without the end line at the bottom, eu-stack was stopped part way."

/** The first words of the end line the rewrite adds. */
export const END_LINE = "==== end of eu-stack output"

/** `TID 1234:` */
const THREAD_HEADING = /^TID (\d+):$/
/** A frame without a name: `#3  0x00007f2bbe867079` or `#3  0x00007f2bbe867079 - /usr/bin/node`. */
const UNNAMED = /^(#\d+\s+0x([0-9a-f]+))(?: - .*)?$/
/** The build-id line `-b` prints under a frame that has a module. */
const BUILD_ID = /^\s+\[[0-9a-f]*\]@0x[0-9a-f]+\+0x[0-9a-f]+$/

const lines = (file: string) =>
  readline.createInterface({ input: fs.createReadStream(file, { encoding: "utf8" }), crlfDelay: Infinity })

/** The addresses of the frames eu-stack could not name, below the header. */
export const unnamedAddresses = async (file: string): Promise<ReadonlyArray<number>> => {
  const found = new Set<number>()
  let output = false
  for await (const line of lines(file)) {
    if (!output) output = line === FOLLOWS
    else {
      const match = UNNAMED.exec(line)
      if (match !== null) found.add(parseInt(match[2]!, 16))
    }
  }
  return [...found].sort((a, b) => a - b)
}

/** How eu-stack ended. */
export interface Outcome {
  readonly exitCode: number
  /** The end of its stderr: its warnings. */
  readonly stderr: string
}

/** What a rewrite did. */
export interface Summary {
  /** Frames named from the perf map. */
  readonly jitFrames: number
  /** Thread headings seen (threads printed). */
  readonly threads: number
  /** The thread ids printed, in order. */
  readonly tids: ReadonlyArray<number>
}

/** The end line, and eu-stack's warnings under it, if any. */
export const endLines = (threads: number, outcome: Outcome): string => {
  const warnings = outcome.stderr.trim()
  const status = outcome.exitCode === 0
    ? ""
    : outcome.exitCode === 1
    ? ", exit code 1: some frames are missing"
    : `, exit code ${outcome.exitCode}`
  return `\n${END_LINE} (${threads} thread${threads === 1 ? "" : "s"}${status}) ====\n` +
    (warnings === "" ? "" : `eu-stack's warnings:\n  ${clean(warnings)}\n`)
}

/**
 * Rewrites `file` in place (through a 0600 sibling and a rename): labels
 * thread headings, names JIT frames from `names`, and adds the end line.
 * The header (up to {@link FOLLOWS}) is copied as it is.
 */
export const rewrite = async (
  file: string,
  context: Context,
  names: ReadonlyMap<number, string>,
  outcome: Outcome
): Promise<Summary> => {
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`
  const out = fs.createWriteStream(temporary, { flags: "wx", mode: 0o600, encoding: "utf8" })
  let jitFrames = 0
  const tids: Array<number> = []
  const write = (text: string) =>
    out.write(text) ? Promise.resolve() : new Promise<void>((resolve) => out.once("drain", () => resolve()))
  // A thread's heading is held back until its frames (up to the next heading) are read.
  let heading: { line: string; lwp: number } | undefined
  let frames: Array<string> = []
  const flush = async () => {
    if (heading === undefined) return
    const l = labels(context, heading.lwp, frames.join("\n"))
    await write(`${heading.line}${l.length === 0 ? "" : ` [${l.join(", ")}]`}\n${frames.map((f) => `${f}\n`).join("")}`)
    heading = undefined
    frames = []
  }
  let output = false
  // The build-id line under a JIT frame named from the perf map describes no module: it is dropped.
  let dropBuildId = false
  try {
    await new Promise<void>((resolve, reject) => {
      out.once("open", () => resolve())
      out.once("error", reject)
    })
    for await (const raw of lines(file)) {
      if (!output) {
        output = raw === FOLLOWS
        await write(`${raw}\n`)
        continue
      }
      if (dropBuildId && BUILD_ID.test(raw)) {
        dropBuildId = false
        continue
      }
      dropBuildId = false
      let line = raw
      const unnamed = UNNAMED.exec(raw)
      if (unnamed !== null) {
        const name = names.get(parseInt(unnamed[2]!, 16))
        if (name !== undefined) {
          jitFrames++
          dropBuildId = true
          line = `${unnamed[1]} ${name} - [JIT code, perf map]`
        }
      }
      const thread = THREAD_HEADING.exec(line)
      if (thread !== null) {
        await flush()
        tids.push(Number(thread[1]))
        heading = { line, lwp: Number(thread[1]) }
      } else if (heading !== undefined) {
        frames.push(line)
      } else {
        await write(`${line}\n`)
      }
    }
    await flush()
    await write(endLines(tids.length, outcome))
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())))
    await fs.promises.rename(temporary, file)
    return { jitFrames, threads: tids.length, tids }
  } catch (error) {
    out.destroy()
    await fs.promises.rm(temporary, { force: true })
    throw error
  }
}
