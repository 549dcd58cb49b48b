/**
 * The gdb backend: open-source, out-of-process snapshots of this Node.js
 * process with GNU gdb (`apt-get install gdb`).
 *
 * Each trace writes one text file, `<program>.<pid>.<timestamp>.txt`, in
 * `outputDir`: a header (time, pid, the faulted thread, the fiber, the error,
 * classifiers, attributes, the JS stack or `Cause.pretty`), then gdb's
 * `info threads` and the backtrace of every thread (or of the calling thread
 * alone with `callerOnly`). Threads are labelled with their role (main
 * thread, libuv threadpool, V8 platform worker, …) and, when the process runs
 * with `node --perf-basic-prof`, JIT frames that gdb prints as `??` are named
 * from `/tmp/perf-<pid>.map`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gdb, Tracer } from "effect-bcd"
 *
 * const program = Effect.gen(function*() {
 *   const result = yield* Tracer.trace(new Error("disk full"))
 *   console.log(result.snapshot) // Some("/var/crash/my-app/server.4242.20261126T041939.123Z.txt")
 * })
 *
 * program.pipe(Effect.provide(Gdb.layer({ outputDir: "/var/crash/my-app", full: true })))
 * ```
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import * as internal from "./internal/gdb/backend.js"
import * as internalConfig from "./internal/gdb/config.js"
import * as Tracer from "./Tracer.js"
import type { TracerConfigError } from "./TraceError.js"
import type { TracerBackend } from "./TracerBackend.js"
import type * as TraceOptions from "./TraceOptions.js"

/**
 * Where and how to upload each snapshot (and its core file): a POST of the
 * file, streamed from disk, to any HTTP endpoint; only a 200 counts.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 *
 * Gdb.layer({
 *   put: { url: Redacted.make("https://crash.example.com:6098/post?token=…"), unlink: true }
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PutOptions {
  /**
   * The endpoint, `http:` or `https:`. When it holds a token, pass it as a
   * `Redacted`; it never appears in logs or errors either way.
   */
  readonly url: string | URL | Redacted.Redacted<string>
  /** The deadline of one upload attempt. Default 60 seconds. */
  readonly timeout?: Duration.DurationInput
  /** When to retry a transient failure (connection error, 408, 429, 5xx). Default: exponential from 250 ms, 4 retries. */
  readonly retry?: Schedule.Schedule<unknown, unknown>
  /** Remove each file after the server accepted it (and only then). Default false. */
  readonly unlink?: boolean
  /** Also upload the core file, when `core` wrote one. Default true. */
  readonly core?: boolean
}

/**
 * Options of the gdb backend. Every field is optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The gdb program: a name looked up in `PATH`, or a path. Default `"gdb"`. Checked when the layer is built. */
  readonly gdbPath?: string
  /**
   * The folder snapshots are written to, created (0700) when missing and
   * checked writable when the layer is built. Default `"snapshots"`. A
   * relative path is resolved against the working directory then, so
   * snapshot paths are always absolute.
   */
  readonly outputDir?: string
  /** The first part of each snapshot's name. Default: the script's name (`server` for `server.js`). */
  readonly program?: string
  /** Attributes added to every trace. */
  readonly attributes?: Readonly<Record<string, string>>
  /** Classifiers added to every trace. */
  readonly classifiers?: ReadonlyArray<string>
  /** `bt full`: each frame's local variables too. Default false. */
  readonly full?: boolean
  /**
   * Also write a core file, `<snapshot name>.core` (0600), with gdb's
   * `generate-core-file`. Default false.
   */
  readonly core?: boolean
  /**
   * The largest core file to write, in bytes. gdb writes every anonymous
   * mapping, reserved WebAssembly memory included (8-10 GiB each, as zeros),
   * so the size is estimated from `/proc/<pid>/maps` first; a core that would
   * be larger, or would leave less than 5% of `outputDir`'s file system (at
   * most 1 GiB) free, is skipped and the snapshot's header says why.
   * Default 4 GiB.
   */
  readonly maxCoreSize?: number
  /** Upload each snapshot. Absent means no uploads. */
  readonly put?: PutOptions
  /**
   * Overrides of the default trace options (Backtrace's: faulted, all
   * threads, error classification, a 120 s deadline).
   */
  readonly traceOptions?: TraceOptions.TraceOptions
}

/**
 * The backend itself, after checking `options`: gdb is found and answers,
 * and `outputDir` exists (created 0700 when missing) and is writable.
 * Otherwise fails with `TracerConfigError` naming the field.
 *
 * @example
 * ```ts
 * const backend = yield* Gdb.make({ core: true })
 * const tracer = yield* Tracer.make(backend)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<TracerBackend, TracerConfigError> => internal.make(options)

/**
 * Provides a `Tracer` that runs gdb. Building the layer checks the options
 * and fails with `TracerConfigError` (naming the field) when gdb is missing
 * or `outputDir` is not writable.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gdb, Tracer } from "effect-bcd"
 *
 * Effect.gen(function*() {
 *   yield* Tracer.trace(new Error("boom"), { callerOnly: true })
 * }).pipe(
 *   Effect.catchAllDefect(Tracer.recover),
 *   Effect.provide(Gdb.layer({ outputDir: "/var/crash/my-app" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Tracer.Tracer, TracerConfigError> =>
  Layer.scoped(Tracer.Tracer, Effect.flatMap(internal.make(options), Tracer.make))

/**
 * The options read from the environment, each absent variable keeping its
 * default: `BCD_GDB_PATH`, `BCD_OUTPUT_DIR`, `BCD_PROGRAM`, `BCD_ATTRIBUTES`
 * (`key:value,…`), `BCD_CLASSIFIERS`, `BCD_GDB_FULL`, `BCD_GDB_CORE`,
 * `BCD_GDB_MAX_CORE_SIZE` (bytes), `BCD_TIMEOUT` (a duration or `none`), and,
 * when `BCD_PUT_URL` is set (read as `Redacted`), `BCD_UNLINK`,
 * `BCD_PUT_TIMEOUT`, `BCD_PUT_CORE`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = internalConfig.config

/**
 * {@link layer} with its options read through `Config` (by default
 * {@link config}, from the environment). A malformed variable fails with
 * `TracerConfigError`.
 *
 * @example
 * ```ts
 * // BCD_OUTPUT_DIR=/var/crash/my-app BCD_GDB_CORE=true node app.js
 * program.pipe(Effect.provide(Gdb.layerConfig()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: Config.Config<Options> = config): Layer.Layer<Tracer.Tracer, TracerConfigError> =>
  Layer.unwrapEffect(Effect.map(internalConfig.load(options), layer))

/**
 * The gdb backend with its defaults: `gdb` from `PATH`, snapshots in
 * `./snapshots`, no uploads. Use {@link layerConfig} to read the options
 * from `BCD_*` variables instead.
 *
 * @example
 * ```ts
 * program.pipe(Effect.provide(GdbLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const GdbLive: Layer.Layer<Tracer.Tracer, TracerConfigError> = layer()
