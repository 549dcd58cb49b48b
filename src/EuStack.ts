/**
 * The eu-stack backend: open-source snapshots of this Node.js process with
 * `eu-stack` from elfutils (`apt-get install elfutils`), which stops one
 * thread at a time, for about a millisecond each, where gdb stops the whole
 * process for the whole trace.
 *
 * Each trace writes one text file, `<program>.<pid>.<timestamp>.txt`, in
 * `outputDir`: the same header as the gdb backend's (time, pid, the faulted
 * thread, the fiber, the error, classifiers, attributes, the JS stack or
 * `Cause.pretty`), then eu-stack's native stack of every thread (or of the
 * calling thread alone with `callerOnly`), with each frame's module and the
 * module's build id. Threads are labelled with their role (main thread, libuv
 * threadpool, V8 platform worker, `worker_threads` Worker, …) and, when the
 * process runs with `node --perf-basic-prof`, JIT frames are named from
 * `/tmp/perf-<pid>.map`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { EuStack, Tracer } from "effect-bcd"
 *
 * const program = Effect.gen(function*() {
 *   const result = yield* Tracer.trace(new Error("disk full"))
 *   console.log(result.snapshot) // Some("/var/crash/my-app/server.4242.20261126T041939.123Z.txt")
 * })
 *
 * program.pipe(Effect.provide(EuStack.layer({ outputDir: "/var/crash/my-app" })))
 * ```
 *
 * @module
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { loadConfig } from "./internal/core/config.js"
import * as internal from "./internal/eustack/backend.js"
import * as internalConfig from "./internal/eustack/config.js"
import type { SnapshotPutOptions } from "./internal/snapshot/put.js"
import * as platform from "./internal/upload/platform.js"
import type { TracerConfigError } from "./TraceError.js"
import type * as TraceOptions from "./TraceOptions.js"
import * as Tracer from "./Tracer.js"
import type { TracerBackend } from "./TracerBackend.js"

/**
 * Where and how to upload each snapshot. To a Backtrace endpoint
 * (`endpoint`, or a `url` of Backtrace's form), the snapshot goes as a
 * **Backtrace JSON report** that Backtrace indexes: one thread per native
 * thread, the error's JS stack as the faulting thread, the classifiers, the
 * header's fields as attributes, with the text snapshot attached.
 * To any other `url`, the text file is POSTed as it is (`format: "raw"`).
 * Either way the files stream from disk, transient failures are retried, and
 * only a 200 counts.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { EuStack } from "effect-bcd"
 *
 * // Backtrace: host[:port] and a token, or the submission URL from the console.
 * EuStack.layer({
 *   put: { endpoint: "backtrace.example.com", token: Redacted.make("…"), application: "checkout", version: "1.2.3" }
 * })
 * EuStack.layer({ put: { endpoint: Redacted.make("https://submit.backtrace.io/acme/0123…cdef/json") } })
 * // Any other receiver: the text file as it is.
 * EuStack.layer({ put: { url: "https://crash.example.com/upload", unlink: true } })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type PutOptions = SnapshotPutOptions

/**
 * Options of the eu-stack backend. Every field is optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The eu-stack program: a name looked up in `PATH`, or a path. Default
   * `"eu-stack"`. Checked when the layer is built.
   */
  readonly euStackPath?: string
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
  /** Upload each snapshot. Absent means no uploads. */
  readonly put?: PutOptions
  /**
   * Laid over the default trace options (Backtrace's: faulted, all threads,
   * error classification, a 120 s deadline).
   */
  readonly defaultTraceOptions?: TraceOptions.TraceOptions
}

/**
 * One trace's plan, carried on `TraceResult.plan`: the snapshot's path and
 * its time.
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  /** The snapshot file: the header, then eu-stack's output appended to it. */
  readonly snapshot: string
  /** When the trace was planned. */
  readonly time: Date
}

/**
 * The backend itself, after checking `options`: eu-stack is found and
 * answers, and `outputDir` exists (created 0700 when missing) and is
 * writable. Otherwise fails with `TracerConfigError` naming the field (a
 * missing eu-stack names the `elfutils` package). With `put`, the upload
 * takes `FileSystem` from context, once.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { EuStack, Tracer } from "effect-bcd"
 *
 * const program = Effect.gen(function*() {
 *   const backend = yield* EuStack.make({ outputDir: "/var/crash/my-app" })
 *   const tracer = yield* Tracer.make(backend)
 *   yield* tracer.trace(new Error("boom"))
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  (options?: Options & { readonly put?: undefined }): Effect.Effect<TracerBackend<Plan>, TracerConfigError>
  (options: Options): Effect.Effect<TracerBackend<Plan>, TracerConfigError, platform.Services>
} = ((options: Options = {}) => internal.make(options)) as typeof make

/**
 * Provides a `Tracer` that runs eu-stack. Building the layer checks the
 * options and fails with `TracerConfigError` (naming the field) when
 * eu-stack is missing or `outputDir` is not writable. With `put`, it needs
 * `FileSystem` (or use {@link live}).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { EuStack, Tracer } from "effect-bcd"
 *
 * Effect.gen(function*() {
 *   yield* Tracer.trace(new Error("boom"), { callerOnly: true })
 * }).pipe(
 *   Effect.catchAllDefect(Tracer.recover),
 *   Effect.provide(EuStack.layer({ outputDir: "/var/crash/my-app" }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: {
  (options?: Options & { readonly put?: undefined }): Layer.Layer<Tracer.Tracer, TracerConfigError>
  (options: Options): Layer.Layer<Tracer.Tracer, TracerConfigError, platform.Services>
} =
  ((options: Options = {}) =>
    Layer.scoped(Tracer.Tracer, Effect.flatMap(internal.make(options), Tracer.make))) as typeof layer

/**
 * {@link layer} with the Node platform services provided (loaded only when
 * `put` is given).
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { EuStack, Tracer } from "effect-bcd"
 *
 * Tracer.trace(new Error("boom")).pipe(
 *   Effect.provide(EuStack.live({ put: { url: Redacted.make("https://crash.example.com/upload?token=secret") } }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const live = (options: Options = {}): Layer.Layer<Tracer.Tracer, TracerConfigError> =>
  platform.live(options, layer)

/**
 * The options read from the environment, each absent variable keeping its
 * default: `BCD_EU_STACK_PATH`, `BCD_OUTPUT_DIR`, `BCD_PROGRAM`,
 * `BCD_ATTRIBUTES` (`key:value,…`), `BCD_CLASSIFIERS`, `BCD_TIMEOUT` (a
 * duration or `none`), and, when `BCD_ENDPOINT` (with `BCD_TOKEN`) or
 * `BCD_PUT_URL` is set (each read as `Redacted`), `BCD_PUT_FORMAT`
 * (`backtrace-json` or `raw`), `BCD_APPLICATION`, `BCD_APPLICATION_VERSION`,
 * `BCD_UNLINK`, `BCD_PUT_TIMEOUT` and `BCD_PUT_CA`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = internalConfig.config

/**
 * {@link live} with its options read through `Config` (by default
 * {@link config}, from the environment). A malformed variable fails with
 * `TracerConfigError`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { EuStack, Tracer } from "effect-bcd"
 *
 * // BCD_OUTPUT_DIR=/var/crash/my-app node app.js
 * Tracer.trace(new Error("boom")).pipe(Effect.provide(EuStack.layerConfig()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: Config.Config<Options> = config): Layer.Layer<Tracer.Tracer, TracerConfigError> =>
  Layer.unwrapEffect(Effect.map(loadConfig(options), live))

/**
 * The eu-stack backend with its defaults (`live()`): `eu-stack` from `PATH`,
 * snapshots in `./snapshots`, no uploads. Use {@link layerConfig} to read the
 * options from `BCD_*` variables instead.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { EuStackLive, Tracer } from "effect-bcd"
 *
 * Tracer.trace(new Error("boom")).pipe(Effect.provide(EuStackLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const EuStackLive: Layer.Layer<Tracer.Tracer, TracerConfigError> = live()
