// The outside observer of bench/freeze.ts: a separate process that reads the state of every thread of a
// process from /proc/<pid>/task/<tid>/stat, about every 0.25 ms, and writes each stretch in which a thread
// was stopped (state `t`, ptrace stop, or `T`) as one JSON line.
//
//   node bench/freeze-sampler.mjs <pid> <out.jsonl> <stop-file>
//
// Plain JavaScript, no imports but Node's: it starts fast and does little per sample. Each stat file stays
// open and is re-read at offset 0. A stop is timed from the first sample that saw it to the first sample
// that saw the thread running again, so it is known to within one sampling period. The periods actually
// achieved are written last, when the stop file appears: `{ "periods": { "bucketMs", "counts", "max" } }`.
import * as fs from "node:fs"
import { performance } from "node:perf_hooks"

const [pid, out, stopFile] = process.argv.slice(2)
const now = () => performance.timeOrigin + performance.now()
const sleeper = new Int32Array(new SharedArrayBuffer(4))
const SLEEP_MS = 0.2

const output = fs.openSync(out, "a")
const buffer = Buffer.alloc(1024)
/** tid -> { fd, since: time first seen stopped, or undefined } */
const threads = new Map()

const refresh = () => {
  let tids
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`)
  } catch {
    return false
  }
  for (const tid of tids) {
    if (threads.has(tid)) continue
    try {
      threads.set(tid, { fd: fs.openSync(`/proc/${pid}/task/${tid}/stat`, "r"), since: undefined, state: "?" })
    } catch {
      // the thread ended meanwhile
    }
  }
  return true
}

/** The state letter of a stat line: the field after the command name, which is in parentheses. */
const stateOf = (fd) => {
  try {
    const n = fs.readSync(fd, buffer, 0, buffer.length, 0)
    const text = buffer.latin1Slice(0, n)
    return text[text.lastIndexOf(")") + 2]
  } catch {
    return undefined
  }
}

// A histogram of the sampling periods: 0.05 ms buckets up to 100 ms, and the longest.
const BUCKET_MS = 0.05
const counts = new Uint32Array(2000)
let longest = 0
refresh()
let last = undefined
let lastRefresh = now()
for (;;) {
  const t = now()
  if (last !== undefined) {
    const period = t - last
    counts[Math.min(counts.length - 1, Math.floor(period / BUCKET_MS))]++
    longest = Math.max(longest, period)
  }
  last = t
  for (const [tid, thread] of threads) {
    const state = stateOf(thread.fd)
    if (state === undefined) {
      fs.closeSync(thread.fd)
      threads.delete(tid)
      continue
    }
    const stopped = state === "t" || state === "T"
    if (stopped && thread.since === undefined) thread.since = t
    else if (!stopped && thread.since !== undefined) {
      fs.writeSync(output, JSON.stringify({ tid: Number(tid), from: thread.since, to: t, state: thread.state }) + "\n")
      thread.since = undefined
    }
    if (stopped) thread.state = state
  }
  if (t - lastRefresh > 100) {
    lastRefresh = t
    if (!refresh() || fs.existsSync(stopFile)) break
  }
  Atomics.wait(sleeper, 0, 0, SLEEP_MS)
}
fs.writeSync(output, JSON.stringify({ periods: { bucketMs: BUCKET_MS, counts: [...counts], max: longest } }) + "\n")
fs.closeSync(output)
