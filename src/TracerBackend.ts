/**
 * The generic tracer interface: the Go `Tracer` interface in Effect form.
 *
 * A backend is a plain value. It turns a {@link TraceRequest} into an
 * `@effect/platform` `Command`, which the core runs itself (with its output
 * in files, in its own process group, under a watchdog). A backend never
 * spawns anything.
 *
 * @module
 * @since 0.1.0
 */
import type * as Command from "@effect/platform/Command"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { SnapshotUploadError, TracerRunError } from "./TraceError.js"
import type * as TraceOptions from "./TraceOptions.js"
import type * as Tracer from "./Tracer.js"

/**
 * Everything a backend needs to build one tracer command line.
 *
 * @since 0.1.0
 * @category models
 */
export interface TraceRequest {
  /** The process to trace: this one, unless `TraceOptions.pid` names another. */
  readonly pid: number
  /** The calling thread's id, from `/proc/thread-self`, when available. */
  readonly tid: Option.Option<number>
  /** Mark the calling thread as faulted. */
  readonly faulted: boolean
  /** Trace the calling thread only. */
  readonly callerOnly: boolean
  /** The calling fiber's id. */
  readonly fiberId: number
  /**
   * The error's message (sanitised: no NUL bytes, at most 64 KiB), if any;
   * for a `Cause`, that of its first failure, else its first defect.
   */
  readonly error: Option.Option<string>
  /** The error itself, for backends that render more than its message. */
  readonly cause: Option.Option<unknown>
  /**
   * Classifiers: the base ones, then the error's class (with
   * `errorClassification`), then the per-trace `classifications`.
   */
  readonly classifiers: ReadonlyArray<string>
  /**
   * Attributes: the base ones, then `error` (the error's message, when there
   * is an error), the per-trace ones, then the span's: `span`, `trace_id`,
   * `span_id`, and the identifying attributes (`http.route`,
   * `http.request.method`, `url.path`, `TracerConfig.spanAttributes`), capped.
   */
  readonly attributes: ReadonlyArray<readonly [key: string, value: string]>
  /** Extra raw arguments (`Tracer.addOptions`). */
  readonly args: ReadonlyArray<string>
  /**
   * The base set (`Tracer.options`) as it was added, across kinds: Go's base
   * options, which Backtrace's ptrace gets in this order right after the pid.
   * `attributes`, `classifiers` and `args` begin with the same entries.
   */
  readonly base: ReadonlyArray<BaseOption>
}

/**
 * One entry of a tracer's base set: an attribute (`Tracer.addKV`), a
 * classifier (`Tracer.addClassifier`) or raw arguments (`Tracer.addOptions`).
 *
 * @since 0.1.0
 * @category models
 */
export type BaseOption =
  | { readonly _tag: "Attribute"; readonly key: string; readonly value: string }
  | { readonly _tag: "Classifier"; readonly name: string }
  | { readonly _tag: "Args"; readonly args: ReadonlyArray<string> }

/**
 * What a finished tracer left behind.
 *
 * @since 0.1.0
 * @category models
 */
export interface TraceResult<P = unknown> {
  /** The tracer's stdout (empty when the backend's `stdio` sent it to a file). */
  readonly stdout: string
  /** The tracer's exit code: 0, or another of the backend's `exitCodes`. */
  readonly exitCode: number
  /** The end of the tracer's stderr (at most 4 KiB), for example the warnings of a tracer that exited 1. */
  readonly stderr: string
  /** The snapshot's path, when the backend knows it. */
  readonly snapshot: Option.Option<string>
  /** How long the tracer ran, in milliseconds. */
  readonly durationMs: number
  /**
   * How long this process's main thread was seen stopped while the tracer
   * ran, in milliseconds, when the runner can tell: the supervisor looks
   * every 5 ms, so a stop is known to about 5 ms and one shorter than that
   * may be missed. `None` with the inline runner (a stopped process cannot
   * time itself).
   */
  readonly stoppedMs: Option.Option<number>
  /** The request the tracer ran for. */
  readonly request: TraceRequest
  /** The backend's plan for this trace (see {@link TracerBackend.plan}); `undefined` without one. */
  readonly plan: P
}

/**
 * Where a tracer's stdin comes from and where its stdout and stderr also go
 * (Go's `SetPipes`). Paths to files; stdin defaults to `/dev/null`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stdio {
  readonly stdin?: string
  /**
   * A file the tracer's stdout is appended to (created 0600 if missing;
   * create it in `prepare` to choose how). `TraceResult.stdout` is then
   * empty: the output is never read into this process. By default stdout goes
   * to a private file and is read back (at most 64 MiB).
   */
  readonly stdout?: string
  readonly stderr?: string
}

/**
 * An out-of-process tracer. `P` is the backend's per-trace plan: what it
 * decides once per trace (a file name, a core path) and hands from one step
 * to the next. A backend without state has none (`void`) and stays a few
 * lines.
 *
 * The core calls, in order: `plan` (before the lock), `command`, then with
 * the lock held `prepare` and the tracer itself, then `snapshot`,
 * `finalize` and `put` (after the lock); or, when the trace fails after
 * `prepare`, `abandon`.
 *
 * @example
 * ```ts
 * import * as Command from "@effect/platform/Command"
 * import { TraceOptions, type TracerBackend } from "effect-bcd"
 *
 * const eustack: TracerBackend.TracerBackend = {
 *   name: "eu-stack",
 *   program: "eu-stack",
 *   defaultTraceOptions: { ...TraceOptions.defaults, timeout: "10 seconds" },
 *   command: (req) => Command.make("eu-stack", "-p", String(req.pid))
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TracerBackend<P = void> {
  /** A short name, used in logs. */
  readonly name: string
  /**
   * The tracer's program, a name looked up in `PATH` or a path: what
   * `Tracer.checkPermissions` checks, without building a command.
   */
  readonly program: string
  /** The options used when a trace gives none. */
  readonly defaultTraceOptions: TraceOptions.Resolved
  /**
   * Decides what this one trace needs (file names, a core path), before the
   * lock is taken. Its value is given to every later step and carried on
   * `TraceResult.plan`.
   */
  readonly plan?: (request: TraceRequest) => Effect.Effect<P, TracerRunError>
  /**
   * Builds the tracer's command line for one request: a plain `Command.make`
   * (no pipes, stdin/stdout/stderr settings, shell, uid or gid: the core
   * runs it with files and its own process group). For a backend without a
   * `plan`, `Tracer.make` calls it once with a request that has no error and
   * no base options, to check it when the Tracer is built.
   */
  readonly command: (request: TraceRequest, plan: P) => Command.Command
  /**
   * Runs with the lock held, just before the tracer starts: creates what the
   * command refers to (the gdb backend writes the snapshot's header here).
   * Returns the plan, changed if preparing changed it. Its failure is the
   * trace's.
   */
  readonly prepare?: (request: TraceRequest, plan: P) => Effect.Effect<P, TracerRunError>
  /**
   * Runs when a trace fails after `prepare` succeeded: the tracer failed,
   * passed its deadline or was interrupted, or `finalize` failed. Keeps what is worth keeping,
   * marked partial (the built-in backends add a `.partial` suffix), and
   * removes the rest; returns the paths left behind, which the trace's error
   * names (`leftBehind`). Never fails.
   */
  readonly abandon?: (request: TraceRequest, plan: P) => Effect.Effect<ReadonlyArray<string>>
  /** Reads the snapshot's path from the tracer's stdout (or the plan). */
  readonly snapshot?: (stdout: string, request: TraceRequest, plan: P) => Option.Option<string>
  /**
   * Runs after a tracer exited successfully, outside the lock and before the
   * upload: post-processes the snapshot (for example names JIT frames).
   */
  readonly finalize?: (result: TraceResult<P>) => Effect.Effect<TraceResult<P>, TracerRunError>
  /** Uploads a finished trace. Present means uploads are on. */
  readonly put?: (result: TraceResult<P>) => Effect.Effect<void, SnapshotUploadError | TracerRunError>
  /** The base options a new Tracer starts from (`Tracer.options`): the backend's own attributes, classifiers, args. */
  readonly base?: Tracer.Options
  /**
   * Secrets (the upload token, a URL holding it): with the default
   * `TracerConfig.tracerEnvironment`, no variable holding one reaches the
   * tracer's environment.
   */
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>>
  /**
   * Files for the tracer's stdin, stdout and stderr: the same for every
   * trace, or per trace, from the request and the plan (before `prepare`),
   * for example to append the tracer's output to the snapshot file.
   */
  readonly stdio?: Stdio | ((request: TraceRequest, plan: P) => Stdio)
  /**
   * The exit codes that mean the tracer succeeded. Default `[0]`. (`eu-stack`
   * exits 1 when it printed every thread but some frames had errors, for
   * example a thread that ended while it was read.)
   */
  readonly exitCodes?: ReadonlyArray<number>
  /** Signals `Tracer.register` listens to by default. */
  readonly signals?: ReadonlyArray<NodeJS.Signals>
}

/**
 * A backend whatever its plan: what a `Tracer` holds.
 *
 * @since 0.1.0
 * @category models
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = TracerBackend<any>
