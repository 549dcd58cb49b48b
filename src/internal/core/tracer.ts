/**
 * The Tracer service: one trace is request -> command -> locked, timed run ->
 * result -> upload.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import type { Tracer } from "../../Tracer.js"
import type { TraceError } from "../../TraceError.js"
import { TraceTimeoutError, TracerKillError, TracerRunError } from "../../TraceError.js"
import type { TraceRequest, TraceResult, TracerBackend } from "../../TracerBackend.js"
import { TracerConfig, type Settings } from "../../TracerConfig.js"
import * as TraceOptions from "../../TraceOptions.js"
import { ptraceHint } from "../os/hint.js"
import * as Lock from "./lock.js"
import { log } from "./log.js"
import * as Process from "./process.js"
import { emptyBase, makeRequest } from "./request.js"
import * as Watchdog from "./watchdog.js"

/** Internal knobs for tests: how signals reach a process group, and the external watchdog. */
export interface MakeOptions {
  readonly kill?: (pgid: number, signal: NodeJS.Signals) => void
  readonly watchdog?: Watchdog.Watchdog
}

/** Runs the spec under the lock, the cooldown and one deadline over both. */
const runLocked = (
  backend: TracerBackend,
  request: TraceRequest,
  spec: Process.Spec,
  timeout: TraceOptions.Timeout,
  config: Settings,
  options: MakeOptions
) =>
  Effect.gen(function*() {
    const deadline = TraceOptions.deadline(timeout)
    const startedAt = performance.now()
    let phase: "lock" | "execution" = "lock"
    let killFailure: string | undefined
    const run = Effect.suspend(() => {
      phase = "execution"
      return backend.prepare === undefined ? spawn : Effect.zipRight(backend.prepare(request), spawn)
    })
    const spawn = Effect.suspend(() => {
      const remaining = Option.map(deadline, (d) => Duration.millis(Math.max(1, Duration.toMillis(d) - (performance.now() - startedAt))))
      return Process.run(spec, {
        deadline: remaining,
        grace: Duration.decode(config.killGrace),
        watchdog: options.watchdog ?? Watchdog.detect(),
        onKillFailure: (reason) => {
          killFailure = reason
        },
        ...(options.kill ? { kill: options.kill } : {})
      })
    })
    const locked = Lock.withLock(config.rateLimit, run)
    const exit = yield* Effect.exit(Option.match(deadline, {
      onNone: () => locked,
      onSome: (duration) =>
        Effect.timeoutFail(locked, { duration, onTimeout: () => new TraceTimeoutError({ phase }) })
    }))
    if (killFailure !== undefined) {
      const error = new TracerKillError({ path: spec.command, reason: killFailure })
      yield* log(LogLevel.Error, backend.name, error.message)
      if (config.panicOnKillFailure) return yield* Effect.die(error)
    }
    const finished = yield* exit
    if (finished.deadlinePassed) return yield* new TraceTimeoutError({ phase: "execution" })
    if (finished.code !== 0) {
      const hint = ptraceHint(finished.stderr)
      return yield* new TracerRunError({
        path: finished.path,
        reason: "exited abnormally",
        ...(finished.signal === null ? { exitCode: finished.code ?? -1 } : { signal: finished.signal }),
        stderr: finished.stderr,
        ...(hint === undefined ? {} : { hint })
      })
    }
    return finished
  })

const toResult = (backend: TracerBackend, request: TraceRequest, finished: Process.Finished): TraceResult => ({
  stdout: finished.stdout,
  snapshot: backend.snapshot ? backend.snapshot(finished.stdout, request) : Option.none(),
  durationMs: finished.durationMs,
  request
})

/** Builds the service for `backend`; closing the scope waits (bounded) for background uploads. */
export const make = (backend: TracerBackend, options: MakeOptions = {}): Effect.Effect<Tracer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const base = yield* Ref.make(emptyBase)
    const pending = yield* FiberSet.make<void, never>()
    const say = (level: LogLevel.LogLevel, message: string) => log(level, backend.name, message)

    const trace = (error?: unknown, traceOptions?: TraceOptions.TraceOptions): Effect.Effect<TraceResult, TraceError> =>
      Effect.gen(function*() {
        const config = yield* TracerConfig
        const resolved = TraceOptions.resolve(backend.defaultTraceOptions, traceOptions)
        const request = yield* makeRequest(yield* Ref.get(base), resolved, Option.fromNullable(error))
        const spec = Process.fromCommand(backend.command(request), backend.stdio)
        if (Either.isLeft(spec)) {
          return yield* new TracerRunError({ path: backend.name, reason: spec.left, stderr: "" })
        }
        yield* say(LogLevel.Debug, `Starting tracer ${spec.right.command} (${spec.right.args.length} args)`)
        const finished = yield* runLocked(backend, request, spec.right, resolved.timeout, config, options)
        const raw = toResult(backend, request, finished)
        const result = backend.finalize === undefined ? raw : yield* backend.finalize(raw)
        yield* say(LogLevel.Debug, `Tracer finished in ${finished.durationMs} ms`)
        if (backend.put === undefined) return result
        const upload = backend.put(result).pipe(
          Effect.tapError((e) => say(LogLevel.Error, e.message))
        )
        if (config.synchronousPut) yield* upload
        else yield* FiberSet.run(pending, Effect.ignore(upload))
        return result
      }).pipe(Effect.tapError((e) => e._tag === "SnapshotUploadError" ? Effect.void : say(LogLevel.Error, e.message)))

    const update = (f: (b: typeof emptyBase) => typeof emptyBase) => Ref.update(base, f)
    const service: Tracer = {
      backend,
      trace,
      addKV: (key, value) => update((b) => ({ ...b, attributes: [...b.attributes, [key, value]] })),
      addClassifier: (name) => update((b) => ({ ...b, classifiers: [...b.classifiers, name] })),
      addOptions: (...args) => update((b) => ({ ...b, args: [...b.args, ...args] })),
      options: Ref.get(base),
      clearOptions: Ref.set(base, emptyBase),
      awaitPending: FiberSet.awaitEmpty(pending)
    }
    // Runs before the FiberSet's own finalizer, which interrupts what is left.
    yield* Effect.addFinalizer(() => drainPending(service))
    return service
  })

/**
 * Waits for background uploads within `TracerConfig.drainTimeout`; what is
 * left is abandoned, with one log line (the snapshots stay on disk).
 */
export const drainPending = (tracer: Tracer): Effect.Effect<void> =>
  Effect.flatMap(TracerConfig, (config) =>
    Effect.interruptible(tracer.awaitPending).pipe(
      Effect.timeout(config.drainTimeout),
      Effect.catchAll(() =>
        log(
          LogLevel.Error,
          tracer.backend.name,
          "Pending uploads did not finish in time (drainTimeout); abandoning them, their snapshots stay on disk"
        )
      )
    ))
