/**
 * The Backtrace backend: Backtrace's `ptrace` tracer (Go's `BTTracer`) and
 * uploads of its snapshots to a Backtrace (coronerd) server.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Backtrace, Tracer } from "effect-bcd"
 *
 * const program = Effect.gen(function*() {
 *   yield* Tracer.trace(new Error("boom"))
 * })
 *
 * program.pipe(
 *   Effect.provide(Backtrace.live({
 *     outputDir: "/var/lib/myapp/snapshots",
 *     attributes: { version: "1.2.3" },
 *     put: { endpoint: "backtrace.example.com", token: Redacted.make(process.env.BT_TOKEN ?? ""), unlink: true }
 *   }))
 * )
 * ```
 *
 * @module
 * @since 0.1.0
 */
import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import * as internal from "./internal/backtrace/backend.js"
import { build } from "./internal/backtrace/build.js"
import * as internalConfig from "./internal/backtrace/config.js"
import * as endpoint from "./internal/backtrace/endpoint.js"
import { loadConfig } from "./internal/core/config.js"
import * as platform from "./internal/upload/platform.js"
import type { SnapshotUploadError, TracerConfigError } from "./TraceError.js"
import type * as TraceOptions from "./TraceOptions.js"
import * as Tracer from "./Tracer.js"
import type { TracerBackend, TraceRequest } from "./TracerBackend.js"

/**
 * Where Backtrace installs its tracer: `/opt/backtrace/bin/ptrace`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultTracerPath: string = internal.DEFAULT_TRACER_PATH

/**
 * The signals `Tracer.register` listens to by default: SIGABRT, SIGFPE,
 * SIGSEGV, SIGILL, SIGBUS.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultSignals: ReadonlyArray<NodeJS.Signals> = internal.DEFAULT_SIGNALS

/**
 * coronerd's default submission port, 6098.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPort: number = endpoint.DEFAULT_PORT

/**
 * Uploads (Go's `ConfigurePut`).
 *
 * @since 0.1.0
 * @category models
 */
export interface PutOptions {
  /**
   * `host`, `host:port`, `[::1]:6098`, `https://host`, or a full submission
   * URL (`…/post?token=…`, `https://submit.backtrace.io/<universe>/<token>/<format>`).
   * See {@link endpointUrl}. A URL that holds the token is a secret: prefer a `Redacted`.
   */
  readonly endpoint: string | Redacted.Redacted<string>
  /** The submission token. Not needed when `endpoint` holds it. Prefer a `Redacted`. */
  readonly token?: string | Redacted.Redacted<string>
  /** Remove each snapshot once the server answered 200 (never otherwise). Default false. */
  readonly unlink?: boolean
  /** Upload every snapshot right after its trace (Go's `PutOnTrace`). Default true. */
  readonly onTrace?: boolean
  /** The deadline of one upload attempt (connection, body and answer); finite. Default 60 s. */
  readonly timeout?: Duration.DurationInput
  /**
   * When to retry a transient failure (connection error, timeout, 408, 429,
   * 5xx); a `Retry-After` is waited out. Default: exponential from 250 ms,
   * jittered, at most 4 retries within 30 s. Give a bounded schedule.
   */
  readonly retry?: Schedule.Schedule<unknown, unknown>
  /** How many files {@link putDir} uploads at once. Default 8. */
  readonly concurrency?: number
  /**
   * A private CA to trust for an `https:` server, besides Node's own roots
   * (and `NODE_EXTRA_CA_CERTS`): PEM text, or the path of a PEM file, read
   * when the layer is built. A certificate that does not verify fails the
   * upload at once, without retries.
   */
  readonly ca?: string
}

/**
 * Options of {@link layer}. Every option is checked when the layer is built.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The tracer. Default `/opt/backtrace/bin/ptrace`. */
  readonly tracerPath?: string
  /** The tracer's working directory, where snapshots land. Created (with `permissions`, 0700) when missing. Default `"snapshots"`, relative to the working directory. */
  readonly outputDir?: string
  /**
   * The mode `outputDir` is created with. Default `0o700`. A mode that lets
   * the group or others in (any of `0o077`) is refused unless
   * `allowSharedPermissions` is true. Snapshot files are 0600 either way.
   */
  readonly permissions?: number
  /** Allow `permissions` that let other users into the snapshot folder. Default false. */
  readonly allowSharedPermissions?: boolean
  /** Attributes (`--kv=key:value`) on every trace. */
  readonly attributes?: Readonly<Record<string, string>>
  /** Classifiers (`--classifier=name`) on every trace. */
  readonly classifiers?: ReadonlyArray<string>
  /** Extra raw tracer arguments, after the pid. */
  readonly args?: ReadonlyArray<string>
  /** A file the tracer reads as its stdin (Go's `SetPipes`), not a FIFO. Default `/dev/null`. */
  readonly stdin?: string
  /** A file the tracer's stderr is appended to (Go's `SetPipes`), not a FIFO. */
  readonly stderr?: string
  /** Laid over Backtrace's defaults: faulted, all threads, error classification, 120 s. */
  readonly defaultTraceOptions?: TraceOptions.TraceOptions
  /** The signals `Tracer.register` listens to by default. Default {@link defaultSignals}. */
  readonly signals?: ReadonlyArray<NodeJS.Signals>
  /**
   * Whether the error's message goes into ptrace's argv as
   * `--kv=error:<message>` (`"argv"`, the default, as in Go), or is left out
   * (`"omit"`): argv is readable by every local user in
   * `/proc/<pid>/cmdline` while ptrace runs (see docs/security.md). The
   * error's class (`--classifier=`) is passed either way.
   */
  readonly errorMessage?: "argv" | "omit"
  /** Upload snapshots to a Backtrace server. */
  readonly put?: PutOptions
}

/**
 * What {@link putDir} did: every snapshot is in exactly one list.
 *
 * @since 0.1.0
 * @category models
 */
export interface PutDirSummary {
  /** Uploaded (and, with `unlink`, removed). */
  readonly uploaded: ReadonlyArray<string>
  /** Not uploaded, left in place. */
  readonly failed: ReadonlyArray<
    { readonly path: string; readonly reason: string; readonly error: SnapshotUploadError }
  >
  /** `*.btt` entries that are not regular files (symbolic links, …). */
  readonly skipped: ReadonlyArray<{ readonly path: string; readonly reason: string }>
}

/**
 * The Backtrace uploader, configured by {@link layer}'s `put` options.
 *
 * @since 0.1.0
 * @category models
 */
export interface Uploader {
  /** Uploads one snapshot (Go's `Put`). */
  readonly put: (path: string) => Effect.Effect<void, SnapshotUploadError | TracerConfigError>
  /**
   * Uploads every `*.btt` file below `dir` (Go's `PutDir`, but it carries on
   * after a failure). A directory that cannot be listed is a `SystemError`.
   */
  readonly putDir: (dir: string) => Effect.Effect<PutDirSummary, PlatformError.SystemError | TracerConfigError>
}

/**
 * The uploader service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const Uploader: Context.Tag<Uploader, Uploader> = Context.GenericTag<Uploader>("effect-bcd/Backtrace/Uploader")

/**
 * ptrace's argv for one request, in the order of Go's `bcd.Trace`:
 * `--load=`, `--faulted`, the pid, then the base options as they were added
 * (the layer's `args`, `attributes` and `classifiers`, then each
 * `Tracer.addOptions`, `addKV`, `addClassifier` in call order), `--thread
 * <tid>` (caller only), `--fault-thread <tid>` (faulted),
 * `--kv=error:<message>` (unless `errorMessage` is `"omit"`),
 * `--classifier=<class>` of the error, and the per-trace classifiers. Then
 * what Go has no counterpart for: `--kv=fiber:<id>`, the per-trace
 * attributes and the span's. Attributes and classifiers are single
 * `--opt=value` elements, so no user string becomes an option of its own;
 * a key's `:`, control characters and leading `-` become `_`.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderArgs: (request: TraceRequest, errorMessage?: "argv" | "omit") => Array<string> = internal.renderArgs

/**
 * The snapshot's path: the tracer's stdout up to its first NUL byte,
 * trimmed, resolved against `outputDir`.
 *
 * @since 0.1.0
 * @category rendering
 */
export const snapshotPath: (stdout: string, outputDir: string) => Option.Option<string> = internal.snapshotPath

/**
 * The submission URL for an endpoint and a token (Go's `ConfigurePut`, with
 * the token URL-encoded, IPv6 hosts and `host:port` handled). The scheme
 * defaults to https, the port to 6098, the path is `/post`, the query
 * `token=…`. A URL that already holds its token (`?token=…`, or
 * `submit.backtrace.io/<universe>/<token>/<format>`) is used unchanged (pass
 * it as a `Redacted`: it is a secret). An empty endpoint or token, or an
 * unusable URL, is a `TracerConfigError` that never repeats the token. The
 * URL holds the token: do not log it.
 *
 * @example
 * ```ts
 * import { Backtrace } from "effect-bcd"
 *
 * Backtrace.endpointUrl("[::1]", "s3cr3t") // Right(https://[::1]:6098/post?token=s3cr3t)
 * ```
 *
 * @since 0.1.0
 * @category uploads
 */
export const endpointUrl: (
  endpoint: string | Redacted.Redacted<string>,
  token?: string | Redacted.Redacted<string>
) => Either.Either<URL, TracerConfigError> = endpoint.endpointUrl

/**
 * Uploads one snapshot with the layer's `put` options, streaming it as
 * `application/octet-stream`. Only a 200 is success; transient failures are
 * retried; with `unlink` the file is removed after success only. Fails with
 * `SnapshotUploadError` (path, status) or, without `put` options,
 * `TracerConfigError`. A path that is not a regular file (a FIFO, a
 * directory) fails at once, without a request.
 *
 * @since 0.1.0
 * @category uploads
 */
export const put = (path: string): Effect.Effect<void, SnapshotUploadError | TracerConfigError, Uploader> =>
  Effect.flatMap(Uploader, (uploader) => uploader.put(path))

/**
 * Uploads every `*.btt` file below `dir`, recursively, with bounded
 * concurrency. It carries on past failures and returns what was uploaded,
 * what failed (and why) and what was skipped. The directory is listed while
 * no tracer of this process runs, so no half-written snapshot is sent. A
 * snapshot a server accepted before (a line in its folder's
 * `.effect-bcd-sent` journal matches it) is not sent again, and with
 * `unlink` it is removed. A directory that cannot be listed fails with
 * `@effect/platform`'s `SystemError`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Backtrace } from "effect-bcd"
 *
 * Effect.gen(function*() {
 *   const summary = yield* Backtrace.putDir("/var/lib/myapp/snapshots")
 *   for (const f of summary.failed) yield* Effect.logWarning(`${f.path}: ${f.reason}`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category uploads
 */
export const putDir = (
  dir: string
): Effect.Effect<PutDirSummary, PlatformError.SystemError | TracerConfigError, Uploader> =>
  Effect.flatMap(Uploader, (uploader) => uploader.putDir(dir))

/**
 * The backend itself, after checking `options` (ptrace found, `outputDir`
 * created, the endpoint and token usable). With `put` (and `onTrace`), each
 * trace is uploaded, and `FileSystem` is taken from
 * context, once. A bad option fails with `TracerConfigError` naming it.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Backtrace, Tracer } from "effect-bcd"
 *
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const tracer = yield* Tracer.make(yield* Backtrace.make({ outputDir: "/var/lib/myapp/snapshots" }))
 *   yield* tracer.trace(new Error("boom"))
 * }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: {
  (options?: Options & { readonly put?: undefined }): Effect.Effect<TracerBackend, TracerConfigError>
  (options: Options): Effect.Effect<TracerBackend, TracerConfigError, FileSystem.FileSystem>
} = ((options: Options = {}) => Effect.map(build(options), (built) => built.backend)) as typeof make

/**
 * Provides `Tracer.Tracer` running Backtrace's ptrace, and the
 * {@link Uploader}. The options are checked, and `outputDir` created, when the
 * layer is built; a bad option fails with `TracerConfigError` naming it.
 * The base `attributes`, `classifiers` and `args` seed the tracer's base
 * options (`Tracer.options`). With `put`, it needs `FileSystem` (or use {@link live}).
 *
 * @example
 * ```ts
 * import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
 * import { Layer, Redacted } from "effect"
 * import { Backtrace } from "effect-bcd"
 *
 * const BacktraceLayer = Backtrace.layer({
 *   outputDir: "/var/lib/myapp/snapshots",
 *   attributes: { version: "1.2.3" },
 *   put: { endpoint: "https://backtrace.example.com:6098", token: Redacted.make("secret"), unlink: true }
 * }).pipe(Layer.provide(NodeFileSystem.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: {
  (options?: Options & { readonly put?: undefined }): Layer.Layer<Tracer.Tracer | Uploader, TracerConfigError>
  (
    options: Options
  ): Layer.Layer<Tracer.Tracer | Uploader, TracerConfigError, FileSystem.FileSystem>
} = ((options: Options = {}) =>
  Layer.scopedContext(Effect.gen(function*() {
    const { backend, uploader } = yield* build(options)
    const tracer = yield* Tracer.make(backend)
    return Context.make(Tracer.Tracer, tracer).pipe(Context.add(Uploader, uploader))
  }))) as typeof layer

/**
 * The options read from the environment: `BCD_TRACER_PATH`, `BCD_OUTPUT_DIR`,
 * `BCD_PERMISSIONS` (octal; one that lets others in needs
 * `BCD_ALLOW_SHARED_PERMISSIONS=true`), `BCD_ATTRIBUTES` (`key:value,…`, a
 * comma inside a value written `\,`),
 * `BCD_CLASSIFIERS`, `BCD_TRACER_ARGS`, `BCD_TRACER_STDIN`,
 * `BCD_TRACER_STDERR`, `BCD_SIGNALS`, `BCD_ERROR_MESSAGE` (`argv` or `omit`),
 * `BCD_TIMEOUT` (a duration longer than 0, or `none`),
 * and, when `BCD_ENDPOINT` is set (read as `Redacted`: a submission URL
 * holds the token), `BCD_TOKEN` (read as `Redacted`),
 * `BCD_UNLINK`, `BCD_PUT_ON_TRACE`, `BCD_PUT_TIMEOUT`, `BCD_PUT_CONCURRENCY`, `BCD_PUT_CA`.
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
 * import { Backtrace, Tracer } from "effect-bcd"
 *
 * // BCD_OUTPUT_DIR=/var/lib/myapp/snapshots BCD_ENDPOINT=backtrace.example.com BCD_TOKEN=… node app.js
 * Tracer.trace(new Error("boom")).pipe(Effect.provide(Backtrace.layerConfig()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<Tracer.Tracer | Uploader, TracerConfigError> => Layer.unwrapEffect(Effect.map(loadConfig(options), live))

/**
 * {@link layer} with the Node platform service (`NodeFileSystem`)
 * provided; it is loaded only when `put` is given, from the optional peer dependency `@effect/platform-node`.
 * Without that package, building the layer with `put` fails with
 * `TracerConfigError` (field `put`) naming it.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import { Backtrace, Tracer } from "effect-bcd"
 *
 * Tracer.trace(new Error("boom")).pipe(
 *   Effect.provide(Backtrace.live({ put: { endpoint: "backtrace.example.com", token: Redacted.make("secret") } }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const live = (options: Options = {}): Layer.Layer<Tracer.Tracer | Uploader, TracerConfigError> =>
  platform.live(options, layer)

/**
 * The Backtrace backend with all its defaults (`live()`: ptrace at
 * `/opt/backtrace/bin/ptrace`, snapshots in `./snapshots` (0700), no
 * uploads): `program.pipe(Effect.provide(BacktraceLive))`. Building it fails
 * with `TracerConfigError` when ptrace is not installed.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { BacktraceLive, Tracer } from "effect-bcd"
 *
 * Effect.die("boom").pipe(Effect.catchAllDefect(Tracer.recover), Effect.provide(BacktraceLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const BacktraceLive: Layer.Layer<Tracer.Tracer | Uploader, TracerConfigError> = live()
