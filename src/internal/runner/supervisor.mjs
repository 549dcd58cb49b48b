/**
 * effect-bcd's supervisor: one small long-lived process per traced ("host")
 * process that runs every tracer on the host's behalf, because a
 * ptrace-stopped host runs no code and cannot enforce its own deadline or
 * resume itself (ARCHITECTURE.md, pitfalls 2, 3 and 12). Plain JavaScript, node
 * builtins only (plus the optional koffi), so that it starts fast.
 *
 *   node supervisor.mjs <hostPid> <address> <ffi: 1|0>
 *
 * `address` is `@effect-bcd-supervisor-<hostPid>` (an abstract Unix socket,
 * shared by every isolate of the host; it needs ffi=1 because abstract
 * sockets have no permissions, so peers are checked with SO_PEERCRED) or a
 * socket path inside a private 0700 directory (without koffi).
 *
 * Protocol: newline-delimited JSON.
 *   server -> { op: "hello", pid, version, subreaper }   once the peer is accepted
 *   client -> { op: "run", id, argv, cwd, env, stdin, stdout, stderr, deadlineMs, graceMs, target? }
 *   server -> { op: "spawned", id, pid }                  the tracer's pid, also its process group
 *   server -> { op: "done", id, pid, code, signal, deadlinePassed, durationMs, hostStopped, stoppedMs, rescued, killed,
 *               error? }
 *   client -> { op: "kill", id }                          SIGTERM the group, SIGKILL after grace
 *
 * `target` is the traced process when it is not the host (`effect-bcd trace
 * <pid>`): it is resumed after the run like the host, unless it was already
 * stopped when the run started (a user's `kill -STOP`).
 *
 * One tracer runs at a time, FIFO across connections. Without koffi there is
 * no subreaper: a descendant that leaves the tracer's process group (setsid)
 * and is orphaned is reparented to init and escapes the cleanup.
 *
 * Exit codes: 0 another supervisor holds the address, 2 bad arguments,
 * 3 koffi needed (abstract address) but not loadable, 4 not the host's child.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"

const VERSION = 1
const HOST_POLL_MS = 200
/** During a run: how often the host's main thread is looked at (its stopped time is known to this much). */
const RUN_POLL_MS = 5
const MAX_LINE = 16 * 1024 * 1024
const LATE_RESCUE_MS = [25, 100, 300]
/** Node fires longer timers at once (TimeoutOverflowWarning): a longer deadline counts as none. */
const MAX_TIMER_MS = 2 ** 31 - 1

const hostPid = Number(process.argv[2])
// argv cannot hold the NUL that starts an abstract name: "@name" stands for it, as in ss(8).
const address = (process.argv[3] ?? "").replace(/^@/, "\0")
const wantFfi = process.argv[4] === "1"
if (!Number.isInteger(hostPid) || hostPid <= 1 || address === "") process.exit(2)
if (process.ppid !== hostPid) process.exit(4)
const abstract = address.startsWith("\0")
if (abstract && !wantFfi) process.exit(3) // an abstract socket without SO_PEERCRED would serve anyone
// Snapshots must not come out readable by others (Backtrace's came out 0644 under the host's umask).
process.umask(0o077)
process.title = "effect-bcd-supervisor"

/** koffi functions, once loaded; `undefined` until then or without koffi. */
let ffi
let ready = false
/** @type {Array<() => void>} */
const waitingForReady = []

// ---- /proc -----------------------------------------------------------------

/** `{ state, ppid, pgrp }` of a process (or a thread as `pid/task/tid`), or undefined when gone. */
const stat = (pid) => {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0], ppid: Number(fields[1]), pgrp: Number(fields[2]) }
  } catch {
    return undefined
  }
}

/** `{ state, tracerPid, stopPending }` of a thread (`pid/task/tid`), from its status file. */
const threadStatus = (path) => {
  let text
  try {
    text = fs.readFileSync(`/proc/${path}/status`, "latin1")
  } catch {
    return undefined
  }
  const field = (name) => new RegExp(`\n${name}:\\s*(\\S+)`).exec(text)?.[1] ?? ""
  // SIGSTOP (19) is bit 18 of the pending masks: sent, not yet acted on. SIGCONT cancels it.
  const sigstop = (mask) => (parseInt(mask.slice(-8), 16) & 0x40000) !== 0
  return {
    state: field("State"),
    tracerPid: Number(field("TracerPid")),
    stopPending: sigstop(field("SigPnd")) || sigstop(field("ShdPnd"))
  }
}

const isStopped = (state) => state === "T" || state === "t"

/** The host's main thread is stopped (group stop `T` or ptrace stop `t`). */
const hostStoppedNow = () => isStopped(stat(hostPid)?.state)

/**
 * Resumes the host if it is stopped, or about to stop, while no tracer is
 * attached: after a tracer died before it consumed PTRACE_ATTACH's SIGSTOP
 * (sent to one thread), or one that ran `kill -STOP`. A pending SIGSTOP
 * counts, because it may take effect only after this check (the host's
 * threads must be scheduled first); SIGCONT cancels it. Left alone when any
 * thread has a tracer (a debugger's session). Returns whether SIGCONT was sent.
 */
const rescue = (pid = hostPid) => {
  let tids
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`)
  } catch {
    return false
  }
  let stuck = false
  for (const tid of tids) {
    const thread = threadStatus(`${pid}/task/${tid}`)
    if (thread === undefined) continue
    if (thread.tracerPid !== 0) return false
    if (isStopped(thread.state[0]) || thread.stopPending) stuck = true
  }
  return stuck && signal(pid, "SIGCONT")
}

/**
 * Resumes the host, and the job's other target if it has one that was running
 * when the job started. Returns whether the host was resumed.
 */
const rescueAll = (job) => {
  if (job.target !== undefined) rescue(job.target)
  return rescue()
}

const signal = (pid, name) => {
  try {
    process.kill(pid, name)
    return true
  } catch {
    return false // ESRCH: already gone
  }
}

/**
 * Whether we have children now. libuv forks from the main thread, and the
 * kernel hands orphans to a subreaper's main thread, so its `children` file
 * tells; `undefined` where the kernel lacks the file.
 */
const hasChildren = () => {
  try {
    return fs.readFileSync(`/proc/self/task/${process.pid}/children`, "latin1").trim() !== ""
  } catch {
    return undefined
  }
}

/** Every live process in group `pgid` or below this supervisor (one pass over /proc). */
const leftovers = (pgid) => {
  const byParent = new Map()
  const found = []
  const zombies = []
  for (const name of fs.readdirSync("/proc")) {
    if (name.charCodeAt(0) > 57) continue // not a pid
    const s = stat(name)
    if (s === undefined) continue
    const pid = Number(name)
    if (s.state === "Z" || s.state === "X") {
      if (s.ppid === process.pid) zombies.push(pid)
      continue
    }
    if (s.pgrp === pgid) found.push(pid)
    const siblings = byParent.get(s.ppid)
    if (siblings === undefined) byParent.set(s.ppid, [pid])
    else siblings.push(pid)
  }
  const stack = [process.pid]
  while (stack.length > 0) {
    for (const child of byParent.get(stack.pop()) ?? []) {
      found.push(child)
      stack.push(child)
    }
  }
  return { pids: [...new Set(found)], zombies }
}

/** Reaps zombies reparented to us (subreaper); libuv only reaps the children it spawned. */
const reap = (pids) => {
  if (ffi !== undefined) { for (const pid of pids) ffi.waitpid(pid, null, 1 /* WNOHANG */) }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * SIGKILLs what is left of a tracer: its process group and, as subreaper,
 * descendants that left the group (a `setsid` grandchild), until none is
 * alive or `boundMs` passed. Returns the pids killed.
 */
const killLeftovers = async (pgid, boundMs) => {
  // The common case, without a pass over /proc: the group is empty and nothing was reparented to us.
  if (!signal(-pgid, 0) && hasChildren() === false) return []
  const killed = new Set()
  const until = Date.now() + boundMs
  for (;;) {
    const { pids, zombies } = leftovers(pgid)
    reap(zombies)
    if (pids.length === 0 || Date.now() > until) break
    signal(-pgid, "SIGKILL")
    for (const pid of pids) if (signal(pid, "SIGKILL")) killed.add(pid)
    await sleep(10)
  }
  return [...killed]
}

// ---- runs ------------------------------------------------------------------

/** @type {Array<{ conn: object, req: object }>} */
const queue = []
/** The job running now, if any. */
let current
/** The previous run's later rescue checks; the next run cancels them (its own check follows it). */
let lateRescues = []

const send = (conn, message) => {
  if (!conn.socket.destroyed && conn.socket.writable) conn.socket.write(JSON.stringify(message) + "\n")
}

const next = () => {
  if (current !== undefined || !ready) return
  const job = queue.shift()
  if (job !== undefined) start(job)
}

const openStdio = (req) => {
  const fds = []
  try {
    fds.push(fs.openSync(req.stdin ?? "/dev/null", "r"))
    fds.push(fs.openSync(req.stdout, "a", 0o600))
    fds.push(fs.openSync(req.stderr, "a", 0o600))
    return fds
  } catch (error) {
    fds.forEach((fd) => fs.closeSync(fd))
    throw error
  }
}

/** SIGTERM the group now, SIGKILL after grace; idempotent. */
const expire = (job, why) => {
  if (job.expired !== undefined) return
  job.expired = why
  if (why === "deadline" || why === "host-stopped") job.deadlinePassed = true
  if (job.pid === undefined) return
  signal(-job.pid, "SIGTERM")
  job.graceTimer = setTimeout(() => signal(-job.pid, "SIGKILL"), job.req.graceMs)
}

const start = (job) => {
  current = job
  // Not during a run: a tracer may stop the host on purpose (a snapshot through /proc/<pid>/mem).
  lateRescues.forEach(clearTimeout)
  const { req } = job
  job.hostStopped = false
  job.deadlinePassed = false
  // Armed before the spawn: there is no moment when a tracer that stops the host is unwatched.
  if (typeof req.deadlineMs === "number") job.deadlineTimer = setTimeout(() => expire(job, "deadline"), req.deadlineMs)
  let stoppedSince
  job.stoppedMs = 0
  job.endStop = () => {
    if (stoppedSince !== undefined) job.stoppedMs += performance.now() - stoppedSince
    stoppedSince = undefined
  }
  job.poll = setInterval(() => {
    if (!hostStoppedNow()) return job.endStop()
    job.hostStopped = true
    stoppedSince ??= performance.now()
    if (typeof req.deadlineMs === "number" && performance.now() - stoppedSince > req.deadlineMs) {
      expire(job, "host-stopped")
    }
  }, RUN_POLL_MS)
  const target = req.target
  if (Number.isInteger(target) && target > 1 && target !== hostPid && !isStopped(stat(target)?.state)) {
    job.target = target
  }
  job.started = performance.now()
  let child
  let fds
  try {
    fds = openStdio(req)
  } catch (error) {
    return finish(job, null, null, Object.assign(error, { phase: "stdio" }))
  }
  try {
    // Its own process group, so that the whole group can be killed; stdio from files, never pipes.
    child = spawn(req.argv[0], req.argv.slice(1), {
      cwd: req.cwd ?? undefined,
      env: req.env,
      detached: true,
      stdio: fds
    })
  } catch (error) {
    return finish(job, null, null, Object.assign(error, { phase: "spawn" }))
  } finally {
    fds.forEach((fd) => fs.closeSync(fd))
  }
  job.pid = child.pid
  if (job.pid !== undefined) send(job.conn, { op: "spawned", id: req.id, pid: job.pid })
  child.on("error", (error) => finish(job, null, null, Object.assign(error, { phase: "spawn" })))
  child.on("exit", (code, sig) => finish(job, code, sig))
}

const finish = async (job, code, sig, error) => {
  if (job.finished) return
  job.finished = true
  const durationMs = Math.round(performance.now() - job.started)
  clearTimeout(job.deadlineTimer)
  clearInterval(job.poll)
  job.endStop?.()
  const grace = job.req.graceMs
  const killed = job.pid === undefined ? [] : await killLeftovers(job.pid, Math.max(grace, 1000))
  clearTimeout(job.graceTimer)
  // Only now: a straggler that was attached has been killed, so the kernel has detached it.
  const rescued = rescueAll(job)
  if (rescued) job.hostStopped = true
  lateRescues = LATE_RESCUE_MS.map((ms) => setTimeout(() => rescueAll(job), ms)) // a stop may land a moment later
  send(job.conn, {
    op: "done",
    id: job.req.id,
    pid: job.pid ?? null,
    code,
    signal: sig,
    deadlinePassed: job.deadlinePassed,
    durationMs,
    hostStopped: job.hostStopped,
    stoppedMs: Math.round(job.stoppedMs ?? 0),
    rescued,
    killed: job.expired === "killed",
    stragglers: killed.length,
    ...(error === undefined
      ? {}
      : { error: { code: error.code ?? "EUNKNOWN", message: error.message, phase: error.phase } })
  })
  current = undefined
  next()
}

const onRequest = (conn, req) => {
  if (req.op === "run") {
    if (
      !Array.isArray(req.argv) || req.argv.length === 0 || typeof req.stdout !== "string" ||
      typeof req.stderr !== "string"
    ) {
      return send(conn, { op: "done", id: req.id, error: { code: "EINVAL", message: "malformed run request" } })
    }
    req.graceMs = typeof req.graceMs === "number" ? Math.min(Math.max(req.graceMs, 0), MAX_TIMER_MS) : 1000
    if (typeof req.deadlineMs !== "number" || req.deadlineMs > MAX_TIMER_MS) req.deadlineMs = null
    queue.push({ conn, req })
    return next()
  }
  if (req.op === "kill") {
    if (current !== undefined && current.conn === conn && current.req.id === req.id) return expire(current, "killed")
    const index = queue.findIndex((job) => job.conn === conn && job.req.id === req.id)
    if (index < 0) return
    queue.splice(index, 1)
    send(conn, {
      op: "done",
      id: req.id,
      pid: null,
      code: null,
      signal: null,
      deadlinePassed: false,
      durationMs: 0,
      hostStopped: false,
      rescued: false,
      killed: true,
      stragglers: 0
    })
  }
}

// ---- connections -----------------------------------------------------------

/** SO_PEERCRED's pid of a connected socket, or undefined. */
const peerPid = (socket) => {
  const fd = socket._handle?.fd
  if (ffi === undefined || typeof fd !== "number" || fd < 0) return undefined
  const cred = Buffer.alloc(12)
  return ffi.getsockopt(fd, 1, /* SOL_SOCKET */ 17, /* SO_PEERCRED */ cred, [12]) === 0
    ? cred.readInt32LE(0)
    : undefined
}

const accept = (socket) => {
  // Abstract sockets have no permissions: only the host's own isolates may ask us to run programs.
  if (abstract && peerPid(socket) !== hostPid) return socket.destroy()
  const conn = { socket }
  let buffer = ""
  socket.setEncoding("utf8")
  socket.on("data", (chunk) => {
    buffer += chunk
    if (buffer.length > MAX_LINE) return socket.destroy()
    let newline
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline)
      buffer = buffer.slice(newline + 1)
      let req
      try {
        req = JSON.parse(line)
      } catch {
        return socket.destroy()
      }
      if (req !== null && typeof req === "object") onRequest(conn, req)
    }
  })
  socket.on("close", () => {
    // The isolate is gone (a worker ended): drop its queued runs and stop its running one.
    for (let i = queue.length - 1; i >= 0; i--) if (queue[i].conn === conn) queue.splice(i, 1)
    if (current !== undefined && current.conn === conn) expire(current, "killed")
  })
  send(conn, { op: "hello", pid: process.pid, version: VERSION, subreaper: ffi?.subreaper ?? false })
}

const server = net.createServer((socket) => {
  socket.on("error", () => {}) // EPIPE / ECONNRESET: the peer went away; 'close' follows
  if (ready) accept(socket)
  else waitingForReady.push(() => accept(socket))
})

const listen = (retry) => {
  server.once("error", (error) => {
    if (error.code !== "EADDRINUSE") process.exit(2)
    // Another isolate's supervisor won the race: it serves everyone. A path socket may be stale instead.
    if (abstract || !retry) process.exit(0)
    const probe = net.connect(address)
    probe.once("connect", () => process.exit(0))
    probe.once("error", () => {
      try {
        fs.unlinkSync(address)
      } catch {
        // someone else removed it
      }
      listen(false)
    })
  })
  server.listen(address)
}
listen(true)

const loadFfi = async () => {
  const koffi = (await import("koffi")).default
  let libc
  for (const name of ["libc.so.6", null]) {
    try {
      libc = koffi.load(name)
      break
    } catch {
      // musl, or the main program
    }
  }
  const prctl = libc.func("int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)")
  return {
    getsockopt: libc.func("int getsockopt(int, int, int, void *, _Inout_ uint32_t *)"),
    waitpid: libc.func("int waitpid(int, void *, int)"),
    // PR_SET_CHILD_SUBREAPER: orphaned descendants of a tracer become our children, so we can find them.
    subreaper: prctl(36, 1, 0, 0, 0) === 0
  }
} // Loaded after listen() so that clients can connect meanwhile; they get their hello once it is loaded.
;(wantFfi ? loadFfi() : Promise.resolve(undefined)).then(
  (loaded) => {
    ffi = loaded
    ready = true
    waitingForReady.splice(0).forEach((go) => go())
    next()
  },
  () => process.exit(abstract ? 3 : 2)
)

// ---- lifetime --------------------------------------------------------------

/** Kills the running tracer's group (and resumes the host if asked), then exits. */
const shutdown = (code, resume) => {
  if (current?.pid !== undefined) {
    signal(-current.pid, "SIGKILL")
    for (const pid of leftovers(current.pid).pids) signal(pid, "SIGKILL")
  }
  if (!abstract) {
    try {
      fs.unlinkSync(address)
    } catch {
      // already gone
    }
  }
  if (resume) setTimeout(() => (rescue(), process.exit(code)), 50)
  else process.exit(code)
}

// A reparented supervisor has lost its host: never outlive it by more than a poll.
setInterval(() => process.ppid !== hostPid && shutdown(0, false), HOST_POLL_MS)
process.on("SIGTERM", () => shutdown(0, true))
process.on("uncaughtException", () => shutdown(70, true))
