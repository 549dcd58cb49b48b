/**
 * The out-of-process runner: tracers run in `supervisor.mjs`, a small
 * long-lived child of this process that keeps watching while this process is
 * ptrace-stopped (ARCHITECTURE.md, pitfalls 2, 3 and 12), resumes it when a tracer
 * leaves it stopped, and holds the one-tracer lock across every isolate
 * (main thread and `worker_threads`) of the process. `run` has the contract
 * of `Process.run`.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import * as Option from "effect/Option"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { TracerRunError } from "../../TraceError.js"
import { findExecutable } from "../core/executable.js"
import type { Finished, Spec } from "../core/process.js"
import { makeRunDir } from "../core/runDir.js"

const START_TIMEOUT_MS = 5_000
const HELLO_TIMEOUT_MS = 5_000
/** How long an interruption waits for the supervisor's reply beyond the grace. */
const KILL_REPLY_SLACK_MS = 5_000
const STDERR_TAIL_BYTES = 4096
const STDOUT_MAX_BYTES = 64 * 1024 * 1024
const SYNC_READ_MAX_BYTES = 1024 * 1024

/** The supervisor's script, beside this module in `src/` and in `dist/`. */
export const supervisorPath = fileURLToPath(new URL("./supervisor.mjs", import.meta.url))

/** The supervisor could not be started or reached. */
export class SupervisorStartError extends Data.TaggedError("SupervisorStartError")<{
  readonly reason:
    | "unsupported-platform"
    | "unsafe-directory"
    | "spawn-failed"
    | "exited"
    | "timeout"
    | "untrusted-peer"
    | "io"
  readonly detail: string
}> {
  override get message(): string {
    return `Cannot start the tracer supervisor (${this.reason}): ${this.detail}`
  }
}

/** A live connection to this process's supervisor. */
export interface Connection {
  /** The supervisor's pid. */
  readonly pid: number
  /** Where it listens: an abstract socket (`\0…`) with koffi, else a socket in a private directory. */
  readonly address: string
  /** It is a subreaper (koffi was loadable), so tracer descendants that left the group are killed too. */
  readonly subreaper: boolean
}

/** How a run through the supervisor ended: `Finished` plus what the supervisor saw. */
export interface Supervised extends Finished {
  /** The tracer's pid, also its process group; `undefined` when it did not start. */
  readonly pid: number | undefined
  /** The supervisor sent SIGCONT to this process after the run. */
  readonly rescued: boolean
  /** This process was seen stopped during or after the run. */
  readonly hostStopped: boolean
  /** Processes killed after the leader exited (stragglers, escaped descendants). */
  readonly stragglers: number
}

interface Reply {
  readonly op: "done"
  readonly id: number
  readonly pid: number | null
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly deadlinePassed: boolean
  readonly durationMs: number
  readonly hostStopped: boolean
  readonly stoppedMs?: number
  readonly rescued: boolean
  readonly killed: boolean
  readonly stragglers: number
  readonly error?: ReplyError
}

interface Pending {
  spawned: number | undefined
  done: (reply: Reply) => void
  lost: () => void
}

interface Live extends Connection {
  readonly socket: net.Socket
  readonly pending: Map<number, Pending>
}

/** The one connection of this isolate (a `globalValue` is per isolate: each worker has its own). */
const state = globalValue(Symbol.for("effect-bcd/internal/runner/client"), () => ({
  current: undefined as Promise<Live> | undefined,
  nextId: 1,
  ffi: undefined as Promise<PeerCred | undefined> | undefined
}))

// ---- errors ------------------------------------------------------------------

/** The one place that builds run errors. */
const runError = (fields: {
  readonly path: string
  readonly reason: "not-found" | "spawn-failed" | "exited" | "killed" | "io"
  readonly detail?: string
  readonly cause?: unknown
}): TracerRunError => new TracerRunError(fields)

/** A failed run as the supervisor reports it. */
export interface ReplyError {
  readonly code: string
  readonly message: string
  readonly phase?: "stdio" | "spawn"
}

/** The trace's error for a run the supervisor could not start (its stdio files, or the spawn itself). */
export const replyError = (program: string, error: ReplyError): TracerRunError =>
  runError({
    path: program,
    reason: error.phase === "stdio" ? "io" : "spawn-failed",
    detail: error.phase === "stdio" ? `could not open its stdio files: ${error.message}` : error.message,
    cause: error
  })

/**
 * What to run, as a run message says it: the program and its arguments, the
 * working directory, the environment and stdin, paths made absolute (the
 * supervisor's working directory is "/").
 */
export const commandOf = (spec: Spec, program: string) => ({
  argv: [path.resolve(program), ...spec.args],
  cwd: path.resolve(spec.cwd ?? "."),
  env: spec.env,
  stdin: spec.stdin === undefined ? null : path.resolve(spec.stdin)
})

// ---- peer credentials (koffi) -------------------------------------------------

/** SO_PEERCRED of a connected Unix socket's descriptor. */
type PeerCred = (fd: number) => { readonly pid: number; readonly uid: number } | undefined

/** A variable, so that TypeScript and bundlers leave the optional import alone. */
const FFI_MODULE = { name: "koffi" }

const loadPeerCred = async (): Promise<PeerCred | undefined> => {
  try {
    const module = await import(FFI_MODULE.name)
    const koffi = module.default ?? module
    let libc: { func: (signature: string) => (...args: ReadonlyArray<unknown>) => number } | undefined
    for (const name of ["libc.so.6", null]) {
      try {
        libc = koffi.load(name)
        break
      } catch {
        // musl, or the main program
      }
    }
    const getsockopt = libc!.func("int getsockopt(int, int, int, void *, _Inout_ uint32_t *)")
    return (fd) => {
      const cred = Buffer.alloc(12)
      return getsockopt(fd, 1, 17, cred, [12]) === 0
        ? { pid: cred.readInt32LE(0), uid: cred.readUInt32LE(4) }
        : undefined
    }
  } catch {
    return undefined
  }
}

const parentOf = (pid: number): number | undefined => {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
    return Number(text.slice(text.lastIndexOf(")") + 2).split(" ")[1])
  } catch {
    return undefined
  }
}

// ---- connecting ----------------------------------------------------------------

class StartFailure extends Error {
  constructor(readonly reason: SupervisorStartError["reason"], detail: string) {
    super(detail)
  }
}

/**
 * Where this process's supervisor listens. Abstract sockets have no
 * permissions, so they are used only when koffi can check the peer's pid;
 * otherwise a socket in a directory only this user can enter.
 */
const addressFor = (peerCred: PeerCred | undefined): string => {
  if (peerCred !== undefined) return `\0effect-bcd-supervisor-${process.pid}`
  const dir = path.join(os.tmpdir(), `effect-bcd-${process.getuid!()}`)
  try {
    fs.mkdirSync(dir, { mode: 0o700 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw new StartFailure("unsafe-directory", String(error))
  }
  const info = fs.lstatSync(dir)
  if (!info.isDirectory() || info.uid !== process.getuid!() || (info.mode & 0o077) !== 0) {
    throw new StartFailure("unsafe-directory", `${dir} is not a directory private to this user`)
  }
  return path.join(dir, `supervisor-${process.pid}.sock`)
}

/** Connects and waits for the hello; "absent" when nobody listens (or the listener went away). */
const connectOnce = (address: string, peerCred: PeerCred | undefined): Promise<Live | "absent"> =>
  new Promise((resolve, reject) => {
    const socket = net.createConnection(address)
    let live: Live | undefined
    let buffer = ""
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new StartFailure("timeout", `no hello from ${JSON.stringify(address)}`))
    }, HELLO_TIMEOUT_MS)
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (live !== undefined) return // 'close' follows
      clearTimeout(timer)
      if (error.code === "ECONNREFUSED" || error.code === "ENOENT") resolve("absent")
      else reject(new StartFailure("io", error.message))
    })
    socket.once("connect", () => {
      if (peerCred === undefined) return
      // Anyone can bind an abstract name first: only our own child may hear our tracers' argv and env.
      const peer = peerCred((socket as unknown as { _handle: { fd: number } })._handle.fd)
      if (peer === undefined || peer.uid !== process.getuid!() || parentOf(peer.pid) !== process.pid) {
        clearTimeout(timer)
        socket.destroy()
        reject(
          new StartFailure("untrusted-peer", `${JSON.stringify(address)} is held by pid ${peer?.pid}, not our child`)
        )
      }
    })
    socket.setEncoding("utf8")
    socket.on("data", (chunk: string) => {
      buffer += chunk
      let newline: number
      while ((newline = buffer.indexOf("\n")) >= 0) {
        let message
        try {
          message = JSON.parse(buffer.slice(0, newline))
        } catch {
          return socket.destroy() // not our supervisor
        }
        buffer = buffer.slice(newline + 1)
        if (live === undefined && message.op === "hello") {
          clearTimeout(timer)
          live = { pid: message.pid, address, subreaper: message.subreaper, socket, pending: new Map() }
          socket.unref() // an idle connection must not keep this process alive
          resolve(live)
        } else if (live !== undefined) {
          const entry = live.pending.get(message.id)
          if (entry !== undefined && message.op === "spawned") entry.spawned = message.pid
          if (entry !== undefined && message.op === "done") entry.done(message)
        }
      }
    })
    socket.on("close", () => {
      clearTimeout(timer)
      if (live === undefined) return resolve("absent") // a supervisor on its way out, or one that refused us
      for (const entry of [...live.pending.values()]) entry.lost()
    })
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const start = async (): Promise<Live> => {
  if (process.platform !== "linux") throw new StartFailure("unsupported-platform", `this is ${process.platform}`)
  state.ffi ??= loadPeerCred()
  const peerCred = await state.ffi
  const address = addressFor(peerCred)
  const existing = await connectOnce(address, peerCred)
  if (existing !== "absent") return existing
  const startedAt = Date.now()
  // Its own group and session (not stopped or signalled with ours), no pipes to drain, and no NODE_OPTIONS.
  const argvAddress = address.replace(/^\0/, "@") // argv cannot hold a NUL
  const child = spawn(process.execPath, [supervisorPath, String(process.pid), argvAddress, peerCred ? "1" : "0"], {
    cwd: "/",
    detached: true,
    stdio: "ignore",
    env: {}
  })
  let failed: string | undefined
  child.once("error", (error) => (failed = error.message))
  // Exit code 0 means another isolate's supervisor won the race for the address: keep connecting.
  child.once("exit", (code, signal) => code !== 0 && (failed = `it exited with ${code ?? signal}`))
  child.unref()
  for (;;) {
    await sleep(5)
    const live = await connectOnce(address, peerCred)
    if (live !== "absent") return live
    if (failed !== undefined) throw new StartFailure(child.pid === undefined ? "spawn-failed" : "exited", failed)
    if (Date.now() - startedAt > START_TIMEOUT_MS) throw new StartFailure("timeout", "it did not listen in time")
  }
}

const toStartError = (error: unknown) =>
  error instanceof StartFailure
    ? new SupervisorStartError({ reason: error.reason, detail: error.message })
    : new SupervisorStartError({ reason: "io", detail: String(error) })

const ensureLive: Effect.Effect<Live, SupervisorStartError> = Effect.tryPromise({
  try: async () => {
    const current = state.current
    if (current !== undefined) {
      const live = await current.catch(() => undefined)
      if (live !== undefined && !live.socket.destroyed) return live
      if (state.current === current) state.current = undefined
    }
    if (state.current === undefined) {
      const starting = start()
      state.current = starting
      // A failed start, or a supervisor that died later, is started afresh by the next call.
      starting.then(
        (live) => live.socket.once("close", () => state.current === starting && (state.current = undefined)),
        () => state.current === starting && (state.current = undefined)
      )
    }
    return state.current
  },
  catch: toStartError
})

/**
 * Connects to this process's supervisor, starting it when none runs and
 * restarting it when it died. One connection is shared by the isolate.
 */
export const ensure: Effect.Effect<Connection, SupervisorStartError> = Effect.map(
  ensureLive,
  (live): Connection => ({ pid: live.pid, address: live.address, subreaper: live.subreaper })
)

// ---- running -------------------------------------------------------------------

interface Files {
  readonly dir: string
  readonly stdout: string
  /** stdout goes to the backend's own file (`Stdio.stdout`): appended there, never read back. */
  readonly stdoutGiven: boolean
  readonly stderr: string
  readonly stderrStart: number
}

// A handful of small synchronous file operations per run (tens of microseconds): each async one would
// cost a thread-pool round trip, and a trace is dominated by such latencies. Only a large stdout is read async.
const makeFiles = (spec: Spec, program: string) =>
  Effect.try({
    try: (): Files => {
      const dir = makeRunDir()
      const stderr = spec.stderr === undefined ? path.join(dir, "stderr") : path.resolve(spec.stderr)
      const stdout = spec.stdout === undefined ? path.join(dir, "stdout") : path.resolve(spec.stdout)
      return {
        dir,
        stdout,
        stdoutGiven: spec.stdout !== undefined,
        stderr,
        stderrStart: spec.stderr === undefined ? 0 : sizeOf(stderr)
      }
    },
    catch: (cause) =>
      runError({ path: program, reason: "io", detail: `could not open its stdio files: ${String(cause)}`, cause })
  })

const removeFiles = (files: Files) =>
  Effect.sync(() => {
    try {
      // Only our own files: a stdout given by the backend (the snapshot) stays.
      for (const name of ["stdout", "stderr"]) fs.rmSync(path.join(files.dir, name), { force: true })
      fs.rmdirSync(files.dir)
    } catch {
      fs.rmSync(files.dir, { recursive: true, force: true })
    }
  })

const sizeOf = (file: string) => {
  try {
    return fs.statSync(file).size
  } catch {
    return 0
  }
}

/** Bytes [start, end) of `file`: synchronously when small, else through the thread pool. */
const readRange = async (file: string, start: number, end: number): Promise<string> => {
  if (end <= start) return ""
  const buffer = Buffer.alloc(end - start)
  if (buffer.length <= SYNC_READ_MAX_BYTES) {
    const fd = fs.openSync(file, "r")
    try {
      fs.readSync(fd, buffer, 0, buffer.length, start)
    } finally {
      fs.closeSync(fd)
    }
  } else {
    const handle = await fs.promises.open(file, "r")
    try {
      await handle.read(buffer, 0, buffer.length, start)
    } finally {
      await handle.close()
    }
  }
  return buffer.toString("utf8")
}

// A runaway tracer must not exhaust this process's memory: stdout is capped, stderr is a tail.
const readOutputs = async (files: Files) => {
  const stdout = files.stdoutGiven
    ? ""
    : await readRange(files.stdout, 0, Math.min(sizeOf(files.stdout), STDOUT_MAX_BYTES))
  const stderrEnd = sizeOf(files.stderr)
  const stderr = await readRange(files.stderr, Math.max(files.stderrStart, stderrEnd - STDERR_TAIL_BYTES), stderrEnd)
    .catch(() => "")
  return { stdout, stderr }
}

/** The connection closed before the tracer was spawned (a supervisor that died while idle): try again. */
class NotStarted extends Error {}
const notStarted = new NotStarted("the supervisor went away before the run started")
const isNotStarted = (error: unknown): error is NotStarted => error === notStarted

/** Sends the run and waits for its reply; interruption asks the supervisor to kill the tracer and waits for it. */
const request = (live: Live, program: string, message: object, graceMs: number) =>
  Effect.async<Reply, TracerRunError | NotStarted>((resume) => {
    const id = state.nextId++
    const settle = () => {
      live.pending.delete(id)
      if (live.pending.size === 0) live.socket.unref()
    }
    const entry: Pending = {
      spawned: undefined,
      done: (reply) => {
        settle()
        resume(Effect.succeed(reply))
      },
      lost: () => {
        settle()
        // Not SIGKILL from here: a tracer killed mid-attach would leave this process stopped (pitfall 12).
        if (entry.spawned === undefined) return resume(Effect.fail(notStarted))
        signalGroup(entry.spawned, "SIGTERM")
        resume(
          Effect.fail(
            runError({ path: program, reason: "spawn-failed", detail: "the supervisor exited during the run" })
          )
        )
      }
    }
    live.pending.set(id, entry)
    // A socket closed since `ensure` has already told its pending runs: this one would wait for ever.
    if (live.socket.destroyed) return entry.lost()
    live.socket.ref() // the reply must be awaited even when nothing else keeps this process alive
    live.socket.write(JSON.stringify({ ...message, op: "run", id }) + "\n")
    return Effect.async<void>((resumeCancel) => {
      if (!live.pending.has(id)) return resumeCancel(Effect.void)
      const timer = setTimeout(() => {
        settle()
        if (entry.spawned !== undefined) signalGroup(entry.spawned, "SIGTERM")
        resumeCancel(Effect.void)
      }, graceMs + KILL_REPLY_SLACK_MS)
      entry.done = entry.lost = () => {
        clearTimeout(timer)
        settle()
        resumeCancel(Effect.void)
      }
      live.socket.write(JSON.stringify({ op: "kill", id }) + "\n")
    })
  })

const signalGroup = (pgid: number, signal: NodeJS.Signals) => {
  try {
    process.kill(-pgid, signal)
  } catch {
    // already gone
  }
}

/**
 * Runs a tracer through the supervisor, with the contract of `Process.run`:
 * stdio to files in a private temp dir, stdout (capped) and the stderr tail
 * read afterwards. The deadline is enforced by the supervisor, also while
 * this process is stopped. Interrupting the effect kills the tracer's group
 * (SIGTERM, SIGKILL after `grace`) and waits for the supervisor's reply.
 */
export const run = (
  spec: Spec,
  options: {
    readonly deadline: Option.Option<Duration.Duration>
    readonly grace: Duration.Duration
    /** The traced process when it is not this one: the supervisor resumes it too after the run. */
    readonly target?: number | undefined
  }
): Effect.Effect<Supervised, TracerRunError> =>
  Effect.suspend(() => {
    const program = findExecutable(spec.command, spec.env.PATH, spec.cwd)
    if (program === undefined) {
      return Effect.fail(runError({ path: spec.command, reason: "not-found" }))
    }
    if (spec.cwd !== undefined && !fs.existsSync(spec.cwd)) {
      return Effect.fail(runError({ path: program, reason: "spawn-failed", detail: `no directory ${spec.cwd}` }))
    }
    const graceMs = Duration.toMillis(options.grace)
    return Effect.acquireUseRelease(
      makeFiles(spec, program),
      (files) =>
        Effect.gen(function*() {
          const message = {
            ...commandOf(spec, program),
            stdout: files.stdout,
            stderr: files.stderr,
            deadlineMs: Option.match(options.deadline, { onNone: () => null, onSome: Duration.toMillis }),
            graceMs,
            ...(options.target === undefined || options.target === process.pid ? {} : { target: options.target })
          }
          const reply = yield* ensureLive.pipe(
            Effect.mapError((cause) =>
              runError({ path: program, reason: "spawn-failed", detail: `no supervisor: ${cause.message}`, cause })
            ),
            Effect.flatMap((live) => request(live, program, message, graceMs)),
            // A supervisor killed while idle may not have been noticed yet: the next `ensure` restarts it.
            Effect.retry({ times: 1, while: isNotStarted }),
            Effect.catchIf(
              isNotStarted,
              () => Effect.fail(runError({ path: program, reason: "spawn-failed", detail: notStarted.message }))
            )
          )
          if (reply.error !== undefined) return yield* Effect.fail(replyError(program, reply.error))
          const output = yield* Effect.tryPromise({
            try: () => readOutputs(files),
            catch: (cause) =>
              runError({ path: program, reason: "io", detail: `could not read its output: ${String(cause)}`, cause })
          })
          return {
            path: program,
            code: reply.code,
            signal: reply.signal,
            ...output,
            durationMs: reply.durationMs,
            ...(reply.stoppedMs === undefined ? {} : { stoppedMs: reply.stoppedMs }),
            deadlinePassed: reply.deadlinePassed,
            pid: reply.pid ?? undefined,
            rescued: reply.rescued,
            hostStopped: reply.hostStopped,
            stragglers: reply.stragglers
          } satisfies Supervised
        }),
      removeFiles
    )
  })
