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
 * @module
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import { loadConfig } from "./internal/core/config.js"
import * as internal from "./internal/gdb/backend.js"
import * as internalConfig from "./internal/gdb/config.js"
import type { SnapshotPutOptions } from "./internal/snapshot/put.js"
import * as platform from "./internal/upload/platform.js"
import type { TracerConfigError } from "./TraceError.js"
import type * as TraceOptions from "./TraceOptions.js"
import * as Tracer from "./Tracer.js"
import type { TracerBackend } from "./TracerBackend.js"

/**
 * Where and how to upload each snapshot (and its core file). To a Backtrace endpoint
 * (`endpoint`, or a `url` of Backtrace's form), the snapshot goes as a
 * **Backtrace JSON report** that Backtrace indexes: one thread per native
 * thread, the error's JS stack as the faulting thread, the classifiers, the
 * header's fields as attributes, with the text snapshot attached (and the core file).
 * To any other `url`, the text file is POSTed as it is (`format: "raw"`).
 * Either way the files stream from disk, transient failures are retried, and
 * only a 200 counts.
 *
 * @example
 * ```ts
 * import { Redacted } from "effect"
 * import { Gdb } from "effect-bcd"
 *
 * // Backtrace: host[:port] and a token, or the submission URL from the console.
 * Gdb.layer({
 *   put: { endpoint: "backtrace.example.com", token: Redacted.make("…"), application: "checkout", version: "1.2.3" }
 * })
 * Gdb.layer({ put: { endpoint: Redacted.make("https://submit.backtrace.io/acme/0123…cdef/json") } })
 * // Any other receiver: the text file as it is.
 * Gdb.layer({ put: { url: "https://crash.example.com/upload", unlink: true } })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PutOptions extends SnapshotPutOptions {
  /** Also send the core file, when `core` wrote one: attached to the report, or (`raw`) as a second upload. Default true. */
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
  /**
   * When a trace with `core` fails (gdb passed its deadline, failed, or
   * left an incomplete snapshot), keep its cut-short core file, renamed
   * `<name>.core.partial`, instead of removing it. Default false.
   */
  readonly keepPartialCores?: boolean
  /** Upload each snapshot. Absent means no uploads. */
  readonly put?: PutOptions
  /**
   * Laid over the default trace options (Backtrace's: faulted, all threads,
   * error classification, a 120 s deadline).
   */
  readonly defaultTraceOptions?: TraceOptions.TraceOptions
}

/**
 * One trace's plan, carried on `TraceResult.plan`: the snapshot's path, its
 * time, and the core file (or why none is written).
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  /** The snapshot file. */
  readonly snapshot: string
  /** When the trace was planned. */
  readonly time: Date
  /** The core file gdb writes, if any. */
  readonly core: Option.Option<string>
  /** Why no core is written although one was asked for. */
  readonly coreSkipped: Option.Option<string>
}

/**
 * The backend itself, after checking `options`: gdb is found and answers,
 * and `outputDir` exists (created 0700 when missing) and is writable.
 * Otherwise fails with `TracerConfigError` naming the field. With `put`, the
 * upload takes `FileSystem` from context, once.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Gdb, Tracer } from "effect-bcd"
 *
 * const program = Effect.gen(function*() {
 *   const backend = yield* Gdb.make({ core: true })
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
  (
    options: Options
  ): Effect.Effect<TracerBackend<Plan>, TracerConfigError, FileSystem.FileSystem>
} = ((options: Options = {}) => internal.make(options)) as typeof make

/**
 * Provides a `Tracer` that runs gdb. Building the layer checks the options
 * and fails with `TracerConfigError` (naming the field) when gdb is missing
 * or `outputDir` is not writable. With `put`, it needs `FileSystem` (or use {@link live}).
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
export const layer: {
  (options?: Options & { readonly put?: undefined }): Layer.Layer<Tracer.Tracer, TracerConfigError>
  (options: Options): Layer.Layer<Tracer.Tracer, TracerConfigError, FileSystem.FileSystem>
} =
  ((options: Options = {}) =>
    Layer.scoped(Tracer.Tracer, Effect.flatMap(internal.make(options), Tracer.make))) as typeof layer

/**
 * {@link layer} with the Node platform services provided, loaded only when
 * `put` is given, from the optional peer dependency `@effect/platform-node`.
 * Without that package, building the layer with `put` fails with
 * `TracerConfigError` (field `put`) naming it.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Gdb, Tracer } from "effect-bcd"
 *
 * Tracer.trace(new Error("boom")).pipe(
 *   Effect.provide(Gdb.live({ put: { url: Redacted.make("https://crash.example.com/upload?token=secret") } }))
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
 * default: `BCD_GDB_PATH`, `BCD_OUTPUT_DIR`, `BCD_PROGRAM`, `BCD_ATTRIBUTES`
 * (`key:value,…`), `BCD_CLASSIFIERS`, `BCD_GDB_FULL`, `BCD_GDB_CORE`,
 * `BCD_GDB_MAX_CORE_SIZE` (bytes), `BCD_GDB_KEEP_PARTIAL_CORES`, `BCD_TIMEOUT` (a
 * duration longer than 0, or `none`), and,
 * when `BCD_ENDPOINT` (with `BCD_TOKEN`) or `BCD_PUT_URL` is set (each read as
 * `Redacted`), `BCD_PUT_FORMAT` (`backtrace-json` or `raw`),
 * `BCD_APPLICATION`, `BCD_APPLICATION_VERSION`, `BCD_UNLINK`,
 * `BCD_PUT_TIMEOUT`, `BCD_PUT_CA`, `BCD_PUT_CORE`.
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
 * import { Gdb, Tracer } from "effect-bcd"
 *
 * // BCD_OUTPUT_DIR=/var/crash/my-app BCD_GDB_CORE=true node app.js
 * Tracer.trace(new Error("boom")).pipe(Effect.provide(Gdb.layerConfig()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: Config.Config<Options> = config): Layer.Layer<Tracer.Tracer, TracerConfigError> =>
  Layer.unwrapEffect(Effect.map(loadConfig(options), live))

/**
 * The gdb backend with its defaults (`live()`): `gdb` from `PATH`, snapshots
 * in `./snapshots`, no uploads. Use {@link layerConfig} to read the options
 * from `BCD_*` variables instead.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { GdbLive, Tracer } from "effect-bcd"
 *
 * Tracer.trace(new Error("boom")).pipe(Effect.provide(GdbLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const GdbLive: Layer.Layer<Tracer.Tracer, TracerConfigError> = live()
