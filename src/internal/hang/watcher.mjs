/**
 * effect-bcd's event loop watcher: a `worker_threads` Worker that watches
 * the main thread's heartbeat and, when the main event loop has not beaten
 * for `thresholdMs`, runs the snapshot the main thread armed in advance.
 * The main thread runs no code while it is blocked, so everything a blocked
 * episode needs is here or in shared memory (ARCHITECTURE.md, "Hang
 * snapshots"):
 *
 * - the heartbeat: a Float64 the main thread stores `Date.now()` into from
 *   an unref'd interval;
 * - the process-wide lock word and cooldown stamp (`core/lock.ts`, `Shared`),
 *   taken with a compare-and-swap as owner 2;
 * - the armed snapshot (`{ op: "arm", … }` from the main thread): the
 *   tracer's argv, environment and files, its deadline, the cooldown to
 *   start, and placeholders for what only the watcher knows (how long the
 *   loop has been blocked, and since when);
 * - the supervisor (`runner/supervisor.mjs`), which runs the tracer with its
 *   deadline, kills its group, and resumes this process if it is left stopped.
 *   This Worker has its own connection (a thread of the host process, so the
 *   supervisor accepts it).
 *
 * Plain JavaScript with node builtins only: tsx's loader does not follow
 * into worker threads, and a watcher must start fast.
 *
 * To the main thread: `{ op: "done", id, blockedMs, blockedAt, endedAt, reply, stdout, stderr }`
 * or `{ op: "skipped", id, reason, blockedMs }`; it handles them once its loop runs again.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { parentPort, workerData } from "node:worker_threads"

const { address, heartbeat, lock, thresholdMs, intervalMs, runDirPrefix } = workerData
const beat = new Float64Array(heartbeat)
const owner = new Int32Array(lock, 0, 1)
const readyAt = new Float64Array(lock, 8, 1)
const FREE = 0
const WATCHER = 2
const STDERR_TAIL_BYTES = 4096
const STDOUT_MAX_BYTES = 1024 * 1024

/** The armed snapshot, consumed by one episode; the main thread arms the next. */
let kit
/** An episode is under way: one snapshot per blocked episode. */
let episode = false
let nextId = 1
/** @type {Map<number, (reply: object) => void>} */
const pending = new Map()
let buffer = ""
let closed = false

/** The connection to the supervisor; reopened on the next arming after it closed (a restarted supervisor). */
let socket
const connect = () => {
  closed = false
  buffer = ""
  const current = net.createConnection(address)
  socket = current
  current.setEncoding("utf8")
  current.on("data", (chunk) => {
    buffer += chunk
    let newline
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const message = JSON.parse(buffer.slice(0, newline))
      buffer = buffer.slice(newline + 1)
      if (message.op === "done") pending.get(message.id)?.(message)
    }
  })
  current.on("error", () => {}) // 'close' follows
  current.on("close", () => {
    if (socket !== current) return
    closed = true
    for (const done of pending.values()) done({ error: { code: "EPIPE", message: "the supervisor went away" } })
  })
}
connect()

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Runs one tracer through the supervisor; resolves with its `done` reply. */
const run = (message) =>
  new Promise((resolve) => {
    if (closed) return resolve({ error: { code: "EPIPE", message: "the supervisor went away" } })
    const id = nextId++
    pending.set(id, (reply) => {
      pending.delete(id)
      resolve(reply)
    })
    socket.write(JSON.stringify({ ...message, op: "run", id }) + "\n")
  })

/** The last `max` bytes of a file. */
const tail = (file, max) => {
  try {
    const size = fs.statSync(file).size
    const from = Math.max(0, size - max)
    const out = Buffer.alloc(size - from)
    const fd = fs.openSync(file, "r")
    try {
      fs.readSync(fd, out, 0, out.length, from)
    } finally {
      fs.closeSync(fd)
    }
    return out.toString("utf8")
  } catch {
    return ""
  }
}

/**
 * Writes what only the watcher knows over its placeholders, in the argv and
 * in the file the tracer's stdout is appended to (the snapshot's header).
 * In the file, values are padded to the placeholder's width, so no byte moves.
 */
const fillIn = (armed, values) => {
  const argv = armed.argv.map((arg) =>
    Object.entries(armed.placeholders).reduce((text, [key, mark]) => text.replaceAll(mark, values[key]), arg)
  )
  if (armed.stdout !== null) {
    const fd = fs.openSync(armed.stdout, "r+")
    try {
      const head = Buffer.alloc(Math.min(fs.fstatSync(fd).size, 256 * 1024))
      fs.readSync(fd, head, 0, head.length, 0)
      for (const [key, mark] of Object.entries(armed.placeholders)) {
        const value = Buffer.from(values[key].padEnd(mark.length).slice(0, mark.length))
        for (let at = head.indexOf(mark); at >= 0; at = head.indexOf(mark, at + mark.length)) {
          fs.writeSync(fd, value, 0, value.length, at)
        }
      }
    } finally {
      fs.closeSync(fd)
    }
  }
  return argv
}

/** Takes the shared lock word before `deadline` (epoch ms; Infinity for none); false when the time ran out. */
const takeLock = async (deadline) => {
  for (;;) {
    const current = Atomics.compareExchange(owner, 0, FREE, WATCHER)
    if (current === FREE) return true
    const left = deadline - Date.now()
    if (left <= 0) return false
    const waited = Atomics.waitAsync(owner, 0, current, Math.min(left, 2 ** 31 - 1))
    if (waited.async) await waited.value
  }
}

const releaseLock = () => {
  Atomics.store(owner, 0, FREE)
  Atomics.notify(owner, 0)
}

const blockedFor = () => Date.now() - beat[0]

/** One blocked episode's snapshot, with the armed kit. */
const snapshot = async (armed, since) => {
  const skipped = (reason) => parentPort.postMessage({ op: "skipped", id: armed.id, reason, blockedMs: blockedFor() })
  const deadline = armed.deadlineMs === null ? Infinity : Date.now() + armed.deadlineMs
  // The cooldown of the previous trace, as any trace waits it out; a cooldown that outlasts the deadline fails at once.
  const wait = readyAt[0] - Date.now()
  if (wait > 0) {
    if (Date.now() + wait >= deadline) return skipped("cooldown")
    await sleep(wait)
    if (blockedFor() < thresholdMs) return skipped("unblocked")
  }
  if (!(await takeLock(deadline))) return skipped("lock")
  // The loop may have come back while a trace of the main thread held the lock: nothing is blocked any more.
  if (blockedFor() < thresholdMs) {
    releaseLock()
    return skipped("unblocked")
  }
  let reply
  let stdout = ""
  let stderr = ""
  let endedAt
  const blockedMs = Date.now() - since
  const blockedAt = new Date(since).toISOString()
  // A run folder as the main thread's runs make (core/runDir.ts): a host killed now leaves it to the next sweep.
  const dir = fs.mkdtempSync(runDirPrefix)
  try {
    const argv = fillIn(armed, { blockedMs: String(blockedMs), blockedAt })
    const files = { stdout: armed.stdout ?? path.join(dir, "stdout"), stderr: path.join(dir, "stderr") }
    reply = await run({
      argv,
      cwd: armed.cwd,
      env: armed.env,
      stdin: armed.stdin,
      ...files,
      deadlineMs: deadline === Infinity ? null : Math.max(1, deadline - Date.now()),
      graceMs: armed.graceMs
    })
    endedAt = Date.now()
    if (armed.stdout === null) stdout = tail(files.stdout, STDOUT_MAX_BYTES)
    stderr = tail(files.stderr, STDERR_TAIL_BYTES)
    // The next trace of any thread waits out this one's cooldown (the main thread steps its Schedule later).
    readyAt[0] = Math.max(readyAt[0], endedAt + armed.cooldownMs)
  } catch (error) {
    reply = { error: { code: "EWATCHER", message: String(error) } }
    endedAt = Date.now()
  } finally {
    releaseLock()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  parentPort.postMessage({ op: "done", id: armed.id, blockedMs, blockedAt, endedAt, reply, stdout, stderr })
}

/** The snapshot under way, if any. */
let running
let stopping = false
const tick = () => {
  if (running !== undefined || stopping) return
  const blocked = blockedFor()
  if (blocked < thresholdMs) {
    episode = false
    return
  }
  if (episode) return
  episode = true
  if (kit === undefined) {
    return parentPort.postMessage({ op: "skipped", id: 0, reason: "not-armed", blockedMs: blocked })
  }
  const armed = kit
  kit = undefined
  running = snapshot(armed, beat[0]).finally(() => (running = undefined))
}

const timer = setInterval(tick, intervalMs)
parentPort.on("message", (message) => {
  if (message.op === "arm") {
    // The main thread made sure a supervisor runs (and is its child) before arming.
    if (closed) connect()
    kit = message
  }
  // A snapshot under way finishes first (its tracer holds the lock word); the main thread bounds the wait.
  if (message.op === "stop") {
    stopping = true
    clearInterval(timer)
    Promise.resolve(running).finally(() => {
      socket.end()
      parentPort.close()
    })
  }
})
