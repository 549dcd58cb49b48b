/**
 * The generic tracer interface: the Go `Tracer` interface in Effect form.
 *
 * A backend is a plain value. It turns a {@link TraceRequest} into an
 * `@effect/platform` `Command`, which the core runs itself (with its output
 * in files, in its own process group, under a watchdog). A backend never
 * spawns anything.
 *
 * @since 0.1.0
 */
import type * as Command from "@effect/platform/Command"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { SnapshotUploadError, TracerRunError } from "./TraceError.js"
import type * as TraceOptions from "./TraceOptions.js"

/**
 * Everything a backend needs to build one tracer command line.
 *
 * @since 0.1.0
 * @category models
 */
export interface TraceRequest {
  /** The process to trace: this one. */
  readonly pid: number
  /** The calling thread's id, from `/proc/thread-self`, when available. */
  readonly tid: Option.Option<number>
  /** Mark the calling thread as faulted. */
  readonly faulted: boolean
  /** Trace the calling thread only. */
  readonly callerOnly: boolean
  /** The calling fiber's id. */
  readonly fiberId: number
  /** The error's message (sanitised: no NUL bytes, at most 64 KiB), if any. */
  readonly error: Option.Option<string>
  /** The error itself, for backends that render more than its message. */
  readonly cause: Option.Option<unknown>
  /** Classifiers: the base ones, then the per-trace ones. */
  readonly classifiers: ReadonlyArray<string>
  /** Attributes: the base ones, the per-trace ones, then the span's. */
  readonly attributes: ReadonlyArray<readonly [key: string, value: string]>
  /** Extra raw arguments (`Tracer.addOptions`). */
  readonly args: ReadonlyArray<string>
}

/**
 * What a finished tracer left behind.
 *
 * @since 0.1.0
 * @category models
 */
export interface TraceResult {
  /** The tracer's stdout. */
  readonly stdout: string
  /** The snapshot's path, when the backend knows it. */
  readonly snapshot: Option.Option<string>
  /** How long the tracer ran, in milliseconds. */
  readonly durationMs: number
  /** The request the tracer ran for. */
  readonly request: TraceRequest
}

/**
 * Where a tracer's stdin comes from and where its stderr also goes
 * (Go's `SetPipes`). Paths to files; stdin defaults to `/dev/null`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stdio {
  readonly stdin?: string
  readonly stderr?: string
}

/**
 * An out-of-process tracer.
 *
 * @example
 * ```ts
 * import * as Command from "@effect/platform/Command"
 * import { TraceOptions, type TracerBackend } from "effect-bcd"
 *
 * const eustack: TracerBackend.TracerBackend = {
 *   name: "eu-stack",
 *   defaultTraceOptions: { ...TraceOptions.defaults, timeout: "10 seconds" },
 *   command: (req) => Command.make("eu-stack", "-p", String(req.pid))
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface TracerBackend {
  /** A short name, used in logs. */
  readonly name: string
  /** The options used when a trace gives none. */
  readonly defaultTraceOptions: TraceOptions.Resolved
  /** Builds the tracer's command line for one request. */
  readonly command: (request: TraceRequest) => Command.Command
  /**
   * Runs with the lock held, just before the tracer starts: creates what the
   * command refers to (the gdb backend writes the snapshot's header here).
   * Its failure is the trace's.
   */
  readonly prepare?: (request: TraceRequest) => Effect.Effect<void, TracerRunError>
  /** Reads the snapshot's path from the tracer's stdout. */
  readonly snapshot?: (stdout: string, request: TraceRequest) => Option.Option<string>
  /**
   * Runs after a tracer exited successfully, outside the lock and before the
   * upload: post-processes the snapshot (for example names JIT frames).
   */
  readonly finalize?: (result: TraceResult) => Effect.Effect<TraceResult, TracerRunError>
  /** Uploads a finished trace. Present means uploads are on. */
  readonly put?: (result: TraceResult) => Effect.Effect<void, SnapshotUploadError>
  /** Files for the tracer's stdin and stderr. */
  readonly stdio?: Stdio
  /** Signals `Tracer.register` listens to by default. */
  readonly signals?: ReadonlyArray<NodeJS.Signals>
}
