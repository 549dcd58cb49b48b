/**
 * The tagged errors of effect-bcd.
 *
 * @module
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Data from "effect/Data"

/**
 * `Data.TaggedError` with a declared type of our own. A class that extends
 * `Data.TaggedError(tag)` gets effect's signature copied into its `.d.ts`,
 * and that signature changed in effect 3.20 (`Types.VoidIfEmpty`): the
 * published types would then need the effect we build with. This one names
 * only `Cause.YieldableError`, in every effect 3.x. Every error here has
 * fields, so the arguments are never `void`.
 */
const TaggedError = Data.TaggedError as unknown as <Tag extends string>(
  tag: Tag
) => new<A extends Record<string, unknown>>(
  args: { readonly [P in keyof A as P extends "_tag" ? never : P]: A[P] }
) => Cause.YieldableError & { readonly _tag: Tag } & Readonly<A>

/**
 * The deadline of a trace passed. `phase` says whether it ran out while the
 * trace waited for the process-wide lock (and its cooldown), or while the
 * tracer ran. The messages are those of Backtrace's Go package.
 *
 * @since 0.1.0
 * @category errors
 */
export class TraceTimeoutError extends TaggedError("TraceTimeoutError")<{
  readonly phase: "lock" | "execution"
  /** Files the stopped tracer left, kept and marked partial (a `.partial` suffix). */
  readonly leftBehind?: ReadonlyArray<string>
}> {
  override get message(): string {
    return (this.phase === "lock" ? "Tracer lock acquisition timed out" : "Tracer execution timed out") +
      leftBehindText(this.leftBehind)
  }
}

/** `; left behind: a, b`, or nothing. */
const leftBehindText = (files: ReadonlyArray<string> | undefined): string =>
  files === undefined || files.length === 0 ? "" : `; left behind: ${files.join(", ")}`

/**
 * Why a tracer run failed: its program was not found, it could not be
 * spawned, it exited with a non-zero code, it was killed by a signal, a file
 * it needs (stdio, the snapshot) could not be read or written, or it printed
 * no snapshot path where one was needed, or its snapshot is incomplete (no
 * end marker: it was stopped part way, or its writes failed, for example on
 * a full disk).
 *
 * @since 0.1.0
 * @category errors
 */
export type TracerRunFailure = "not-found" | "spawn-failed" | "exited" | "killed" | "io" | "no-snapshot" | "incomplete"

const RUN_FAILURE: Record<TracerRunFailure, string> = {
  "not-found": "could not start: not found or not executable",
  "spawn-failed": "could not start",
  exited: "exited abnormally",
  killed: "was killed",
  io: "failed on a file",
  "no-snapshot": "printed no snapshot path",
  incomplete: "wrote an incomplete snapshot"
}

/**
 * The tracer could not start, or it exited with a non-zero code or a signal.
 * Carries the tracer's path, how it ended (`reason`, with a `detail`), the
 * tail of its stderr, the files it left behind (kept, marked partial), and
 * the original `cause` (an errno exception) when there is one.
 *
 * @since 0.1.0
 * @category errors
 */
export class TracerRunError extends TaggedError("TracerRunError")<{
  readonly path: string
  readonly reason: TracerRunFailure
  /** What happened, in words (never a secret). */
  readonly detail?: string
  readonly exitCode?: number
  readonly signal?: string
  /** The tail of the tracer's stderr, when it ran. */
  readonly stderr?: string
  /** The likely cause and its fix, when ptrace was refused. */
  readonly hint?: string
  /** Files the failed trace left, kept and marked partial (a `.partial` suffix). */
  readonly leftBehind?: ReadonlyArray<string>
  /** The underlying exception, if any. */
  readonly cause?: unknown
}> {
  override get message(): string {
    const how = this.signal !== undefined
      ? `killed by ${this.signal}`
      : this.exitCode !== undefined
      ? `exited with code ${this.exitCode}`
      : this.detail === undefined
      ? RUN_FAILURE[this.reason]
      : this.reason === "not-found" || this.reason === "spawn-failed"
      ? `could not start: ${this.detail}`
      : this.detail
    const stderr = this.stderr?.trim() ?? ""
    const tail = stderr === "" ? "" : `: ${stderr.split("\n").slice(-3).join(" | ")}`
    const hint = this.hint === undefined ? "" : ` (${this.hint})`
    return `Tracer ${this.path} ${how}${tail}${hint}${leftBehindText(this.leftBehind)}`
  }
}

/**
 * A snapshot could not be uploaded. The file at `path` is left in place.
 * `status` is the HTTP status when the server answered.
 *
 * @since 0.1.0
 * @category errors
 */
export class SnapshotUploadError extends TaggedError("SnapshotUploadError")<{
  readonly path: string
  readonly reason: string
  readonly status?: number
}> {
  override get message(): string {
    const status = this.status === undefined ? "" : ` (HTTP ${this.status})`
    return `Failed to upload snapshot ${this.path}${status}: ${this.reason}`
  }
}

/**
 * The configuration is invalid: a missing tracer binary, an unwritable
 * folder, an empty endpoint or token, an empty signal set, and so on.
 * `field` names the option at fault.
 *
 * @since 0.1.0
 * @category errors
 */
export class TracerConfigError extends TaggedError("TracerConfigError")<{
  readonly field: string
  readonly reason: string
  /** The underlying error (a `ConfigError`, an errno exception), if any. */
  readonly cause?: unknown
}> {
  override get message(): string {
    return `Invalid tracer configuration (${this.field}): ${this.reason}`
  }
}

/**
 * A trace was not taken, at once and before any work: as many traces as
 * `TracerConfig.maxWaiting` already wait for the tracer (`"queue-full"`),
 * the window's cap (`TracerConfig.limit`) is reached (`"limited"`), or
 * `TracerConfig.sample` left it out (`"sampled-out"`).
 *
 * @since 0.1.0
 * @category errors
 */
export class TraceBusyError extends TaggedError("TraceBusyError")<{
  readonly reason: "queue-full" | "limited" | "sampled-out"
}> {
  override get message(): string {
    return this.reason === "queue-full"
      ? "Tracer busy: too many traces wait for the tracer already (TracerConfig.maxWaiting)"
      : this.reason === "limited"
      ? "Tracer busy: the cap of traces per window is reached (TracerConfig.limit)"
      : "Trace sampled out (TracerConfig.sample)"
  }
}

/**
 * Every error `Tracer.trace` can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type TraceError = TraceTimeoutError | TracerRunError | SnapshotUploadError | TraceBusyError

const TRACE_ERROR_TAGS: ReadonlySet<unknown> = new Set([
  "TraceTimeoutError",
  "TracerRunError",
  "SnapshotUploadError",
  "TraceBusyError"
])

/**
 * Whether `u` is one of the errors `Tracer.trace` fails with.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { TraceError, Tracer } from "effect-bcd"
 *
 * const traced = Tracer.trace(new Error("boom")).pipe(
 *   Effect.catchIf(TraceError.isTraceError, (e) => Effect.logWarning(e.message))
 * )
 * ```
 *
 * @since 0.1.0
 * @category refinements
 */
export const isTraceError = (u: unknown): u is TraceError =>
  typeof u === "object" && u !== null && TRACE_ERROR_TAGS.has((u as { readonly _tag?: unknown })._tag)

/**
 * A tracer outlived its deadline and could not be killed. Raised as a defect
 * when `TracerConfig.panicOnKillFailure` is set (Go's `PanicOnKillFailure`).
 *
 * @since 0.1.0
 * @category errors
 */
export class TracerKillError extends TaggedError("TracerKillError")<{
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `Failed to kill tracer ${this.path} upon timeout: ${this.reason}`
  }
}

/**
 * Go's `os.Signal.String()` on Linux: the signal table of Go's `syscall`
 * package (`zerrors_linux_amd64.go`), by name. `SIGIOT` is `SIGABRT`,
 * `SIGPOLL` is `SIGIO`, `SIGUNUSED` is `SIGSYS`.
 */
const GO_SIGNAL_TEXT: Readonly<Record<string, string>> = {
  SIGHUP: "hangup",
  SIGINT: "interrupt",
  SIGQUIT: "quit",
  SIGILL: "illegal instruction",
  SIGTRAP: "trace/breakpoint trap",
  SIGABRT: "aborted",
  SIGIOT: "aborted",
  SIGBUS: "bus error",
  SIGFPE: "floating point exception",
  SIGKILL: "killed",
  SIGUSR1: "user defined signal 1",
  SIGSEGV: "segmentation fault",
  SIGUSR2: "user defined signal 2",
  SIGPIPE: "broken pipe",
  SIGALRM: "alarm clock",
  SIGTERM: "terminated",
  SIGSTKFLT: "stack fault",
  SIGCHLD: "child exited",
  SIGCONT: "continued",
  SIGSTOP: "stopped (signal)",
  SIGTSTP: "stopped",
  SIGTTIN: "stopped (tty input)",
  SIGTTOU: "stopped (tty output)",
  SIGURG: "urgent I/O condition",
  SIGXCPU: "CPU time limit exceeded",
  SIGXFSZ: "file size limit exceeded",
  SIGVTALRM: "virtual timer expired",
  SIGPROF: "profiling timer expired",
  SIGWINCH: "window changed",
  SIGIO: "I/O possible",
  SIGPOLL: "I/O possible",
  SIGPWR: "power failure",
  SIGSYS: "bad system call",
  SIGUNUSED: "bad system call"
}

/**
 * The error a signal's trace is run with (Go's `signalError`). Its message
 * is Go's text for the signal, `os.Signal.String()` on Linux: `user defined
 * signal 2` for `SIGUSR2`, `aborted` for `SIGABRT`, `terminated` for
 * `SIGTERM`, `segmentation fault` for `SIGSEGV`. It classifies as
 * `SignalError`; `signal` holds the Node name. A signal Go's table lacks
 * (none on Linux) keeps its Node name as its message.
 *
 * @since 0.1.0
 * @category errors
 */
export class SignalError extends TaggedError("SignalError")<{
  readonly signal: NodeJS.Signals
}> {
  override get message(): string {
    return Object.hasOwn(GO_SIGNAL_TEXT, this.signal) ? GO_SIGNAL_TEXT[this.signal]! : this.signal
  }
}

/**
 * `Tracer.enableTracing` could not allow tracers to attach: the platform is
 * not Linux, the optional FFI dependency (`koffi`) is missing, or `prctl`
 * failed. The message names the alternative (`sysctl`, `CAP_SYS_PTRACE`).
 *
 * @since 0.1.0
 * @category errors
 */
export class EnableTracingError extends TaggedError("EnableTracingError")<{
  readonly reason: "unsupported-platform" | "ffi-unavailable" | "prctl-failed"
  readonly detail: string
}> {
  override get message(): string {
    const what = this.reason === "unsupported-platform"
      ? "prctl(PR_SET_PTRACER) exists on Linux only"
      : this.reason === "ffi-unavailable"
      ? "it needs the optional dependency koffi to call prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY) (npm install koffi)"
      : "prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY) failed"
    return `Cannot enable tracing: ${what}: ${this.detail}. Alternatively allow ptrace system-wide with` +
      ` 'sysctl -w kernel.yama.ptrace_scope=0', or give the tracer CAP_SYS_PTRACE`
  }
}
