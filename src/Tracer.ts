/**
 * The Tracer service: snapshots of this process by an out-of-process tracer,
 * one at a time, under a deadline and a cooldown.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracer } from "effect-bcd"
 *
 * const program = Effect.gen(function*() {
 *   yield* Tracer.trace(new Error("boom"))
 * }).pipe(Effect.catchAllDefect(Tracer.recover))
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/core/tracer.js"
import * as internalWatch from "./internal/hang/watch.js"
import * as internalPermissions from "./internal/os/permissions.js"
import * as internalSignals from "./internal/os/signals.js"
import * as internalUncaught from "./internal/os/uncaught.js"
import type { EnableTracingError, TraceError, TracerConfigError, TracerRunError } from "./TraceError.js"
import type * as TraceOptions from "./TraceOptions.js"
import type { Any, TraceResult } from "./TracerBackend.js"

/**
 * The base set of options every later trace starts from (Go's `Options()`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Attributes, in the order they were added. */
  readonly attributes: ReadonlyArray<readonly [string, string]>
  /** Classifiers, in the order they were added. */
  readonly classifiers: ReadonlyArray<string>
  /** Extra raw tracer arguments. */
  readonly args: ReadonlyArray<string>
}

/**
 * A tracer bound to one backend.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tracer {
  /** The backend this tracer runs. */
  readonly backend: Any
  /** Runs the tracer against this process. */
  readonly trace: (error?: unknown, options?: TraceOptions.TraceOptions) => Effect.Effect<TraceResult, TraceError>
  /** Hands a trace to the background; never fails, never waits. */
  readonly capture: (error?: unknown, options?: TraceOptions.TraceOptions) => Effect.Effect<void>
  /** Adds an attribute to every later trace. */
  readonly addKV: (key: string, value: string) => Effect.Effect<void>
  /** Adds a classifier to every later trace. */
  readonly addClassifier: (name: string) => Effect.Effect<void>
  /** Adds raw tracer arguments to every later trace. */
  readonly addOptions: (...args: ReadonlyArray<string>) => Effect.Effect<void>
  /** The base set of options. */
  readonly options: Effect.Effect<Options>
  /** Empties the base set of options. */
  readonly clearOptions: Effect.Effect<void>
  /** Waits until background uploads have finished. */
  readonly awaitPending: Effect.Effect<void>
}

/**
 * The Tracer service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const Tracer: Context.Tag<Tracer, Tracer> = Context.GenericTag<Tracer>("effect-bcd/Tracer")

/**
 * Builds a Tracer for `backend`. Closing the scope waits, within
 * `TracerConfig.drainTimeout`, for background uploads. Fails with
 * `TracerConfigError` when the backend has no name or program, or (for a
 * backend without a plan) its command uses `Command` features the core
 * cannot honour (pipes, stdio settings, a shell, a uid or gid).
 *
 * @example
 * ```ts
 * import * as Command from "@effect/platform/Command"
 * import { Effect } from "effect"
 * import { TraceOptions, Tracer } from "effect-bcd"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const tracer = yield* Tracer.make({
 *     name: "eu-stack",
 *     program: "eu-stack",
 *     defaultTraceOptions: TraceOptions.defaults,
 *     command: (req) => Command.make("eu-stack", "-p", String(req.pid))
 *   })
 *   const result = yield* tracer.trace(new Error("boom"))
 *   console.log(result.stdout)
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (backend: Any): Effect.Effect<Tracer, TracerConfigError, Scope.Scope> => internal.make(backend)

/**
 * Provides a Tracer for `backend` (see {@link make}).
 *
 * @example
 * ```ts
 * import * as Command from "@effect/platform/Command"
 * import { Tracer, TraceOptions } from "effect-bcd"
 *
 * const TracerLive = Tracer.layer({
 *   name: "gcore",
 *   program: "gcore",
 *   defaultTraceOptions: TraceOptions.defaults,
 *   command: (req) => Command.make("gcore", "-o", "/tmp/core", String(req.pid))
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (backend: Any): Layer.Layer<Tracer, TracerConfigError> => Layer.scoped(Tracer, make(backend))

/**
 * Runs the tracer against this process. With an error, its message becomes
 * the `error` attribute and (with `errorClassification`) its `_tag` or class
 * a classifier. A `Cause` is read for its first failure, else its first
 * defect (`Interrupt` for interruptions only), and text snapshots quote
 * `Cause.pretty`. The current span's name, ids and identifying attributes
 * (`TracerConfig.spanAttributes`) become attributes, and the span gets a
 * `bcd.snapshot` event naming the snapshot. Reading the error never fails
 * the trace.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracer } from "effect-bcd"
 *
 * // Classified by the failure's _tag or class, not as "Fail" or "Die".
 * const checkout = Effect.fail(new Error("payment declined")).pipe(
 *   Effect.tapErrorCause((cause) => Tracer.trace(cause)),
 *   Effect.withSpan("checkout", { attributes: { "http.route": "/checkout" } })
 * )
 * ```
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { Tracer } from "effect-bcd"
 *
 * Effect.gen(function*() {
 *   const result = yield* Tracer.trace(new Error("disk full"), { timeout: "30 seconds" })
 *   console.log(Option.getOrElse(result.snapshot, () => result.stdout))
 * })
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const trace = (
  error?: unknown,
  options?: TraceOptions.TraceOptions
): Effect.Effect<TraceResult, TraceError, Tracer> => Effect.flatMap(Tracer, (t) => t.trace(error, options))

/**
 * Hands a trace of this process to the Tracer's background fibers and
 * returns at once: for request paths, where a response must never wait on a
 * tracer. It never fails. When the trace cannot run soon (`maxWaiting`
 * traces wait already, the `limit` is reached, or `sample` leaves it out) it
 * is dropped and counted (`TraceMetrics.traces`, outcome `dropped` or
 * `sampled_out`), with one summary log line per 10 s. Closing the Tracer's
 * layer waits for captured traces within `drainTimeout`, like background
 * uploads. Use {@link trace} where the caller wants the result or the error.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracer } from "effect-bcd"
 *
 * const handler = Effect.fail(new Error("payment declined")).pipe(
 *   Effect.tapErrorCause((cause) => Tracer.capture(cause)),
 *   Effect.catchAll(() => Effect.succeed({ status: 500 }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const capture = (error?: unknown, options?: TraceOptions.TraceOptions): Effect.Effect<void, never, Tracer> =>
  Effect.flatMap(Tracer, (t) => t.capture(error, options))

/**
 * Options for {@link recoverWith}.
 *
 * @since 0.1.0
 * @category models
 */
export interface RecoverOptions extends TraceOptions.TraceOptions {
  /** After tracing, die again with the original defect. */
  readonly repanic?: boolean
}

/**
 * Traces a defect, then swallows it (Go's `Recover` without repanic). A trace
 * that fails is logged, never raised.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracer } from "effect-bcd"
 *
 * const program = Effect.die(new Error("boom"))
 *
 * program.pipe(Effect.catchAllDefect(Tracer.recover))
 * ```
 *
 * @since 0.1.0
 * @category recovery
 */
export const recover = (defect: unknown): Effect.Effect<void, never, Tracer> => recoverWith({})(defect)

/**
 * Traces a defect with `options`; with `repanic`, dies again with the
 * original defect afterwards.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracer } from "effect-bcd"
 *
 * const program = Effect.die(new Error("boom"))
 *
 * program.pipe(Effect.catchAllDefect(Tracer.recoverWith({ repanic: true, callerOnly: true })))
 * ```
 *
 * @since 0.1.0
 * @category recovery
 */
export const recoverWith =
  ({ repanic = false, ...options }: RecoverOptions) => (defect: unknown): Effect.Effect<void, never, Tracer> =>
    trace(defect, options).pipe(
      Effect.ignore,
      Effect.zipRight(repanic ? Effect.die(defect) : Effect.void)
    )

/**
 * Adds an attribute to every later trace (Go's `AddKV` on the base set).
 *
 * @since 0.1.0
 * @category accessors
 */
export const addKV = (key: string, value: string): Effect.Effect<void, never, Tracer> =>
  Effect.flatMap(Tracer, (t) => t.addKV(key, value))

/**
 * Adds a classifier to every later trace.
 *
 * @since 0.1.0
 * @category accessors
 */
export const addClassifier = (name: string): Effect.Effect<void, never, Tracer> =>
  Effect.flatMap(Tracer, (t) => t.addClassifier(name))

/**
 * Adds raw tracer arguments to every later trace.
 *
 * @since 0.1.0
 * @category accessors
 */
export const addOptions = (...args: ReadonlyArray<string>): Effect.Effect<void, never, Tracer> =>
  Effect.flatMap(Tracer, (t) => t.addOptions(...args))

/**
 * The base set of options.
 *
 * @since 0.1.0
 * @category accessors
 */
export const options: Effect.Effect<Options, never, Tracer> = Effect.flatMap(Tracer, (t) => t.options)

/**
 * Empties the base set of options.
 *
 * @since 0.1.0
 * @category accessors
 */
export const clearOptions: Effect.Effect<void, never, Tracer> = Effect.flatMap(Tracer, (t) => t.clearOptions)

/**
 * Waits until background uploads (with `synchronousPut: false`) have finished.
 *
 * @since 0.1.0
 * @category accessors
 */
export const awaitPending: Effect.Effect<void, never, Tracer> = Effect.flatMap(Tracer, (t) => t.awaitPending)

/**
 * What {@link checkPermissions} reports: the Yama `ptrace_scope`,
 * `CAP_SYS_PTRACE`, the tracer binary, and whether (and why) a trace would be
 * refused.
 *
 * @since 0.1.0
 * @category models
 */
export interface Permissions {
  /** Yama's `kernel.yama.ptrace_scope` (0 to 3); `None` where Yama is absent. */
  readonly ptraceScope: Option.Option<number>
  /** This process has `CAP_SYS_PTRACE` in its effective set. */
  readonly capSysPtrace: boolean
  /** The tracer will hold `CAP_SYS_PTRACE`: root keeps it across exec, others only as an ambient capability. */
  readonly tracerCapSysPtrace: boolean
  /** `Tracer.enableTracing` succeeded in this process (`PR_SET_PTRACER_ANY`). */
  readonly ptracerAny: boolean
  /** Another tracer (a debugger) is attached to this process now: its pid. */
  readonly tracedBy: Option.Option<number>
  /** The tracer's program as the backend names it. */
  readonly tracer: string
  /** The program found (on `PATH` for a bare name), if it exists and is executable. */
  readonly tracerPath: Option.Option<string>
  /** A trace would be refused. */
  readonly refused: boolean
  /** Why, one sentence per cause, each with its fix. */
  readonly reasons: ReadonlyArray<string>
}

/**
 * Traces each of `signals` while the scope is open (Go's `Register`; closing
 * the scope is `Unregister`). Each trace's error is a `SignalError` whose
 * message is Go's text for the signal (`user defined signal 2`). With
 * `TracerConfig.resendSignal` (the default), the signal's default handling
 * is then restored and the signal sent again, so the process ends as it
 * would have without the library; when the program listens to that signal
 * itself, nothing is sent and the next delivery is traced too.
 *
 * The default set is the backend's (`SIGABRT`, `SIGFPE`, `SIGSEGV`, `SIGILL`,
 * `SIGBUS` when it has none). Only fault signals sent with `kill` are
 * traced: a real fault (in a native addon) still kills the process, because
 * the handler is made one-shot through koffi; without koffi a real fault
 * would hang the process instead (see docs/signals.md). An empty set,
 * `SIGKILL`, `SIGSTOP` and `SIGUSR1` (Node's inspector) fail with
 * `TracerConfigError`. Registering again adds no
 * second trace per signal: the most recent registration handles it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracer } from "effect-bcd"
 *
 * const server = Effect.never
 *
 * Effect.scoped(Effect.gen(function*() {
 *   yield* Tracer.register(["SIGABRT", "SIGTERM"])
 *   yield* server
 * }))
 * ```
 *
 * @since 0.1.0
 * @category signals
 */
export const register = (
  signals?: ReadonlyArray<NodeJS.Signals>
): Effect.Effect<void, TracerConfigError, Tracer | Scope.Scope> =>
  Effect.flatMap(Tracer, (t) => internalSignals.register(t, signals))

/**
 * {@link register} as a layer, for programs built from layers.
 *
 * @example
 * ```ts
 * import * as Command from "@effect/platform/Command"
 * import { Layer } from "effect"
 * import { TraceOptions, Tracer } from "effect-bcd"
 *
 * const TracerLive = Tracer.layer({
 *   name: "eu-stack",
 *   program: "eu-stack",
 *   defaultTraceOptions: TraceOptions.defaults,
 *   command: (req) => Command.make("eu-stack", "-p", String(req.pid))
 * })
 *
 * const MainLive = Tracer.registerLayer().pipe(Layer.provideMerge(TracerLive))
 * ```
 *
 * @since 0.1.0
 * @category signals
 */
export const registerLayer = (signals?: ReadonlyArray<NodeJS.Signals>): Layer.Layer<never, TracerConfigError, Tracer> =>
  Layer.scopedDiscard(register(signals))

/**
 * Traces each `uncaughtException` and `unhandledRejection` while the scope is
 * open, once per event. Then, unless the program has listeners of its own,
 * Node's own behaviour follows: background uploads get
 * `TracerConfig.drainTimeout` to finish, and Node prints the error and exits
 * with code 1 (or applies its `--unhandled-rejections` mode).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracer } from "effect-bcd"
 *
 * const program = Effect.never
 *
 * Effect.scoped(Effect.zipRight(Tracer.handleUncaught, program))
 * ```
 *
 * @since 0.1.0
 * @category signals
 */
export const handleUncaught: Effect.Effect<void, never, Tracer | Scope.Scope> = Effect.flatMap(
  Tracer,
  internalUncaught.handleUncaught
)

/**
 * Options of {@link watchEventLoop}.
 *
 * @since 0.1.0
 * @category hangs
 */
export interface WatchEventLoopOptions {
  /** How long the main event loop may go without running before a snapshot is taken. */
  readonly threshold: Duration.DurationInput
  /** How often the main thread beats and the watcher looks: `threshold / 4` by default (10 ms to 1 s). */
  readonly interval?: Duration.DurationInput
  /** Classifications, attributes and the deadline of every hang snapshot (the thread is always `faulted`). */
  readonly traceOptions?: Pick<TraceOptions.TraceOptions, "classifications" | "attributes" | "timeout">
}

/**
 * Takes a snapshot when the main event loop stops running for `threshold`
 * (a busy loop, a blocking native call, a deadlock in an addon): the case
 * only an out-of-process tracer can serve, because the blocked thread
 * cannot report anything itself. While the scope is open, a
 * `worker_threads` watcher checks a heartbeat of the main thread; when it
 * stops for `threshold`, the watcher runs a snapshot armed in advance
 * through the same Tracer: the same process-wide lock and cooldown (in
 * shared memory), the supervisor runner and its deadline. The main thread
 * is marked faulted; the classifier is `EventLoopBlocked`, and the
 * attributes `event_loop.blocked_ms` and `event_loop.blocked_since` say for
 * how long and since when. One snapshot per blocked episode. Once the loop
 * runs again, the snapshot is finalized and uploaded like any other.
 *
 * Needs the supervisor runner (`TracerConfig.runner`, the default); fails
 * with `TracerConfigError` otherwise. See docs/guide.md, "Hangs".
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { EuStackLive, Tracer } from "effect-bcd"
 *
 * const server = Effect.never
 *
 * Effect.scoped(Effect.gen(function*() {
 *   yield* Tracer.watchEventLoop({ threshold: "2 seconds" })
 *   yield* server
 * })).pipe(Effect.provide(EuStackLive))
 * ```
 *
 * @since 0.1.0
 * @category hangs
 */
export const watchEventLoop = (
  options: WatchEventLoopOptions
): Effect.Effect<void, TracerConfigError | TracerRunError, Tracer | Scope.Scope> =>
  Effect.flatMap(Tracer, (t) => internalWatch.watchEventLoop(t, options))

/**
 * Go's `EnableTracing`: on Linux, `prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY)`,
 * so that a tracer (a child of this process) may attach under Yama
 * `ptrace_scope` 1. Where Yama is absent nothing restricts attaching and this
 * succeeds. Needs the optional dependency `koffi`; without it, it fails with
 * an `EnableTracingError` that names the `sysctl` alternative.
 *
 * @since 0.1.0
 * @category permissions
 */
export const enableTracing: Effect.Effect<void, EnableTracingError> = internalPermissions.enableTracing

/**
 * A pre-flight check: the Yama `ptrace_scope`, `CAP_SYS_PTRACE`, whether the
 * backend's tracer binary exists and is executable, and whether a trace
 * would be refused, and why.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Tracer } from "effect-bcd"
 *
 * Effect.gen(function*() {
 *   const report = yield* Tracer.checkPermissions
 *   if (report.refused) yield* Effect.logWarning(report.reasons.join("; "))
 * })
 * ```
 *
 * @since 0.1.0
 * @category permissions
 */
export const checkPermissions: Effect.Effect<Permissions, never, Tracer> = Effect.flatMap(
  Tracer,
  internalPermissions.check
)
