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
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import * as internal from "./internal/backtrace/backend.js"
import { validate } from "./internal/backtrace/options.js"
import { loadUpload, makeUploader, uploadWith } from "./internal/backtrace/uploader.js"
import * as internalConfig from "./internal/backtrace/config.js"
import * as endpoint from "./internal/backtrace/endpoint.js"
import type { SnapshotUploadError, TracerConfigError } from "./TraceError.js"
import * as Tracer from "./Tracer.js"
import type { TraceRequest } from "./TracerBackend.js"
import type * as TraceOptions from "./TraceOptions.js"

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
  /** How many files {@link putDir} uploads at once. Default 4. */
  readonly concurrency?: number
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
  /** The mode `outputDir` is created with. Default `0o700`. */
  readonly permissions?: number
  /** Attributes (`--kv key:value`) on every trace. */
  readonly attributes?: Readonly<Record<string, string>>
  /** Classifiers (`--classifier name`) on every trace. */
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
  readonly failed: ReadonlyArray<{ readonly path: string; readonly reason: string; readonly error: SnapshotUploadError }>
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
  /** Uploads every `*.btt` file below `dir` (Go's `PutDir`, but it carries on after a failure). */
  readonly putDir: (dir: string) => Effect.Effect<PutDirSummary, SnapshotUploadError | TracerConfigError>
}

/**
 * The uploader service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export const Uploader: Context.Tag<Uploader, Uploader> = Context.GenericTag<Uploader>("effect-bcd/Backtrace/Uploader")

/**
 * ptrace's argv for one request: `--load=`, `--faulted`, the pid, the extra
 * args, then `--kv key:value` per attribute, `--kv fiber:<id>`,
 * `--thread <tid>` (caller only), `--fault-thread <tid>` (faulted), and
 * `--classifier <name>` per classifier.
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderArgs: (request: TraceRequest) => Array<string> = internal.renderArgs

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
 * no tracer of this process runs, so no half-written snapshot is sent.
 *
 * @example
 * ```ts
 * const summary = yield* Backtrace.putDir("/var/lib/myapp/snapshots")
 * for (const f of summary.failed) yield* Effect.logWarning(`${f.path}: ${f.reason}`)
 * ```
 *
 * @since 0.1.0
 * @category uploads
 */
export const putDir = (dir: string): Effect.Effect<PutDirSummary, SnapshotUploadError | TracerConfigError, Uploader> =>
  Effect.flatMap(Uploader, (uploader) => uploader.putDir(dir))

/**
 * Provides `Tracer.Tracer` running Backtrace's ptrace, and the
 * {@link Uploader}. The options are checked, and `outputDir` created, when the
 * layer is built; a bad option fails with `TracerConfigError` naming it.
 * The base `attributes`, `classifiers` and `args` seed the tracer's base
 * options (`Tracer.options`).
 *
 * @example
 * ```ts
 * const BacktraceLayer = Backtrace.layer({
 *   outputDir: "/var/lib/myapp/snapshots",
 *   attributes: { version: "1.2.3" },
 *   put: { endpoint: "https://backtrace.example.com:6098", token: Redacted.make(token), unlink: true }
 * }).pipe(Layer.provide(NodeFileSystem.layer), Layer.provide(NodeHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<Tracer.Tracer | Uploader, TracerConfigError, HttpClient.HttpClient | FileSystem.FileSystem> =>
  Layer.scopedContext(Effect.gen(function*() {
    const { put, settings } = yield* validate(options)
    const context = yield* Effect.context<HttpClient.HttpClient | FileSystem.FileSystem>()
    const loaded = Option.isSome(put) ? Option.some([put.value, yield* loadUpload] as const) : Option.none()
    const uploader = makeUploader(loaded, context)
    const onTrace = Option.map(
      Option.filter(loaded, ([p]) => p.onTrace),
      ([p, upload]) => uploadWith(upload, p, context)
    )
    const tracer = yield* Tracer.make(internal.backend(settings, onTrace))
    for (const [key, value] of Object.entries(options.attributes ?? {})) yield* tracer.addKV(key, value)
    for (const classifier of options.classifiers ?? []) yield* tracer.addClassifier(classifier)
    if (options.args !== undefined && options.args.length > 0) yield* tracer.addOptions(...options.args)
    return Context.make(Tracer.Tracer, tracer).pipe(Context.add(Uploader, uploader))
  }))

/**
 * The options read from the environment: `BCD_TRACER_PATH`, `BCD_OUTPUT_DIR`,
 * `BCD_PERMISSIONS` (octal), `BCD_ATTRIBUTES` (`key:value,…`),
 * `BCD_CLASSIFIERS`, `BCD_TRACER_ARGS`, `BCD_TRACER_STDIN`,
 * `BCD_TRACER_STDERR`, `BCD_SIGNALS`, `BCD_TIMEOUT` (a duration or `none`),
 * and, when `BCD_ENDPOINT` is set (read as `Redacted`: a submission URL
 * holds the token), `BCD_TOKEN` (read as `Redacted`),
 * `BCD_UNLINK`, `BCD_PUT_ON_TRACE`, `BCD_PUT_TIMEOUT`, `BCD_PUT_CONCURRENCY`.
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
 * // BCD_OUTPUT_DIR=/var/lib/myapp/snapshots BCD_ENDPOINT=backtrace.example.com BCD_TOKEN=… node app.js
 * program.pipe(Effect.provide(Backtrace.layerConfig().pipe(Layer.provide(NodeFileSystem.layer), Layer.provide(NodeHttpClient.layer))))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<Tracer.Tracer | Uploader, TracerConfigError, HttpClient.HttpClient | FileSystem.FileSystem> =>
  Layer.unwrapEffect(Effect.map(internalConfig.load(options), layer))

/**
 * The Node platform services the layers need: `NodeFileSystem` and the
 * `node:http`-based `NodeHttpClient`. (Node 20's `fetch` buffers a streamed
 * request body whole, so the fetch client would hold a snapshot in memory.)
 *
 * @since 0.1.0
 * @category layers
 */
export const platformLayer: Layer.Layer<HttpClient.HttpClient | FileSystem.FileSystem> = Layer.unwrapEffect(
  Effect.promise(async () => {
    // Loaded when the layer is built, so that importing effect-bcd stays cheap.
    const [NodeFileSystem, NodeHttpClient] = await Promise.all([
      import("@effect/platform-node/NodeFileSystem"),
      import("@effect/platform-node/NodeHttpClient")
    ])
    return Layer.merge(NodeFileSystem.layer, NodeHttpClient.layer)
  })
)

/**
 * {@link layer} with the Node platform services already provided.
 *
 * @since 0.1.0
 * @category layers
 */
export const live = (options: Options = {}): Layer.Layer<Tracer.Tracer | Uploader, TracerConfigError> =>
  Layer.provide(layer(options), platformLayer)

/**
 * The Backtrace backend with all its defaults (ptrace at
 * `/opt/backtrace/bin/ptrace`, snapshots in `./snapshots` (0700), no
 * uploads) and the Node platform services: `program.pipe(Effect.provide(BacktraceLive))`.
 * Building it fails with `TracerConfigError` when ptrace is not installed.
 *
 * @example
 * ```ts
 * import { BacktraceLive, Tracer } from "effect-bcd"
 *
 * program.pipe(Effect.catchAllDefect(Tracer.recover), Effect.provide(BacktraceLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const BacktraceLive: Layer.Layer<Tracer.Tracer | Uploader, TracerConfigError> = live()
