/**
 * The Tracer service. One trace is request -> plan -> command -> lock
 * (prepare, run) -> result -> finalize -> upload; see ARCHITECTURE.md.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberSet from "effect/FiberSet"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import type * as EffectTracer from "effect/Tracer"
import type { TraceError } from "../../TraceError.js"
import {
  TraceBusyError,
  TracerConfigError,
  TracerKillError,
  TracerRunError,
  TraceTimeoutError
} from "../../TraceError.js"
import * as TraceMetrics from "../../TraceMetrics.js"
import * as TraceOptions from "../../TraceOptions.js"
import type { Tracer } from "../../Tracer.js"
import type { Any, BaseOption, TraceRequest, TraceResult } from "../../TracerBackend.js"
import { type Settings, TracerConfig } from "../../TracerConfig.js"
import { ptraceHint } from "../os/hint.js"
import * as Admission from "./admission.js"
import * as Lock from "./lock.js"
import { log, logSummarised } from "./log.js"
import * as Metrics from "./metrics.js"
import { makePrivate } from "./private.js"
import * as Process from "./process.js"
import { makeRequest, probeRequest, toEntries, toOptions } from "./request.js"
import { sweepRunDirs } from "./runDir.js"
import * as Runner from "./runner.js"
import { currentSpan, linkSnapshot } from "./span.js"
import * as Watchdog from "./watchdog.js"

/**
 * Internal knobs for tests of the inline runner: how signals reach a process
 * group, and the external watchdog. Giving either runs tracers inline.
 */
export interface MakeOptions {
  readonly kill?: (pgid: number, signal: NodeJS.Signals) => void
  readonly watchdog?: Watchdog.Watchdog
}

/** The spec of one command, or a defect: a command the core cannot honour is a bug in the backend. */
export const specOf = (
  backend: Any,
  request: TraceRequest,
  plan: unknown,
  config: Settings
): Effect.Effect<Process.Spec> =>
  Either.match(
    Process.fromCommand(
      backend.command(request, plan),
      typeof backend.stdio === "function" ? backend.stdio(request, plan) : backend.stdio,
      { mode: config.tracerEnvironment, secrets: backend.secrets ?? [] }
    ),
    {
      onLeft: (reason) => Effect.die(new TracerConfigError({ field: `${backend.name}.command`, reason })),
      onRight: Effect.succeed
    }
  )

/**
 * Checks a backend when its Tracer is built: a name and a program, and, for
 * a backend without a plan (whose `command` is pure), a command the core can
 * run. A backend with a plan has its commands checked per trace (a defect).
 */
const checkBackend = (backend: Any): Effect.Effect<void, TracerConfigError> =>
  Effect.gen(function*() {
    if (backend.name === "") return yield* new TracerConfigError({ field: "name", reason: "must not be empty" })
    if (backend.program === "") return yield* new TracerConfigError({ field: "program", reason: "must not be empty" })
    if (backend.plan !== undefined) return
    const request = yield* probeRequest(backend.defaultTraceOptions)
    const reason = Process.unsupported(backend.command(request, undefined))
    if (reason !== undefined) return yield* new TracerConfigError({ field: `${backend.name}.command`, reason })
  })

/** `error`, naming the files its trace left behind. */
const withLeftBehind = <E extends TraceTimeoutError | TracerRunError>(
  error: E,
  leftBehind: ReadonlyArray<string>
): E => {
  if (leftBehind.length === 0) return error
  if (error._tag === "TraceTimeoutError") return new TraceTimeoutError({ phase: error.phase, leftBehind }) as E
  const { cause, detail, exitCode, hint, path, reason, signal, stderr } = error as TracerRunError
  return new TracerRunError({
    path,
    reason,
    ...(detail === undefined ? {} : { detail }),
    ...(exitCode === undefined ? {} : { exitCode }),
    ...(signal === undefined ? {} : { signal }),
    ...(stderr === undefined ? {} : { stderr }),
    ...(hint === undefined ? {} : { hint }),
    ...(cause === undefined ? {} : { cause }),
    leftBehind: [...(error.leftBehind ?? []), ...leftBehind]
  }) as E
}

/** Runs the spec under the lock, the cooldown and one deadline over both; `prepare` runs with the lock held. */
const runLocked = <P>(
  backend: Any,
  request: TraceRequest,
  planned: P,
  spec: Process.Spec,
  timeout: TraceOptions.Timeout,
  config: Settings,
  options: MakeOptions & { readonly watchdog: Watchdog.Watchdog; readonly inline: boolean }
) =>
  Effect.gen(function*() {
    const deadline = TraceOptions.deadline(timeout)
    const startedAt = yield* Clock.currentTimeNanos
    let phase: "lock" | "execution" = "lock"
    let killFailure: string | undefined
    // The plan once `prepare` succeeded: a failure from then on gives the backend its `abandon`.
    let prepared: Option.Option<P> = Option.none()
    // The time left before the deadline, on the monotonic clock.
    const remaining = Effect.map(Clock.currentTimeNanos, (now) =>
      Option.map(deadline, (d) =>
        Duration.millis(Math.max(1, Duration.toMillis(d) - Number(now - startedAt) / 1e6))))
    const spawn = Effect.flatMap(remaining, (left) =>
      Runner.run(
        options.inline ? { ...config, runner: "inline" } : config,
        backend.name,
        spec,
        {
          deadline: left,
          grace: config.killGrace,
          target: request.pid,
          watchdog: options.watchdog,
          onKillFailure: (reason) => {
            killFailure = reason
          },
          ...(options.kill ? { kill: options.kill } : {})
        }
      ))
    const run = Effect.suspend(() => {
      phase = "execution"
      const prepare: Effect.Effect<P, TracerRunError> = backend.prepare === undefined
        ? Effect.succeed(planned)
        : backend.prepare(request, planned)
      return Effect.flatMap(prepare, (plan) => {
        prepared = Option.some(plan)
        return Effect.map(spawn, (finished) => ({ plan, finished }))
      })
    })
    /** The backend's `abandon` of a prepared trace: the files it leaves behind. */
    const abandon: Effect.Effect<ReadonlyArray<string>> = Effect.suspend(() =>
      Option.isNone(prepared) || backend.abandon === undefined
        ? Effect.succeed([])
        : backend.abandon(request, prepared.value)
    )
    const locked = Lock.withLock(config.rateLimit, run)
    const outcome = Effect.gen(function*() {
      const exit = yield* Effect.exit(Option.match(deadline, {
        onNone: () =>
          locked,
        onSome: (duration) =>
          Effect.timeoutFail(locked, { duration, onTimeout: () => new TraceTimeoutError({ phase }) })
      }))
      if (killFailure !== undefined) {
        const error = new TracerKillError({ path: spec.command, reason: killFailure })
        yield* log(LogLevel.Error, backend.name, error.message)
        if (config.panicOnKillFailure) return yield* Effect.die(error)
      }
      const { finished, plan } = yield* exit
      return yield* resultOf(backend, request, plan, finished)
    })
    return yield* outcome.pipe(
      Effect.catchAll((error) => Effect.flatMap(abandon, (files) => Effect.fail(withLeftBehind(error, files)))),
      Effect.onInterrupt(() => abandon)
    )
  })

/**
 * A finished run as a `TraceResult`, or the error its end calls for (the
 * deadline, an exit code not allowed). Whatever umask the tracer ran with
 * (the inline runner passes on this process's), the snapshot is made 0600.
 */
export const resultOf = <P>(
  backend: Any,
  request: TraceRequest,
  plan: P,
  finished: Process.Finished
): Effect.Effect<TraceResult<P>, TraceTimeoutError | TracerRunError> =>
  Effect.suspend((): Effect.Effect<TraceResult<P>, TraceTimeoutError | TracerRunError> => {
    if (finished.deadlinePassed) return Effect.fail(new TraceTimeoutError({ phase: "execution" }))
    if (finished.code === null || !(backend.exitCodes ?? [0]).includes(finished.code)) {
      const hint = ptraceHint(finished.stderr)
      return Effect.fail(
        new TracerRunError({
          path: finished.path,
          ...(finished.signal === null
            ? { reason: "exited", exitCode: finished.code ?? -1 }
            : { reason: "killed", signal: finished.signal }),
          stderr: finished.stderr,
          ...(hint === undefined ? {} : { hint })
        })
      )
    }
    const snapshot = backend.snapshot ? backend.snapshot(finished.stdout, request, plan) : Option.none()
    const path = Option.getOrUndefined(snapshot)
    const why = path === undefined ? undefined : makePrivate(path)
    return Effect.as(
      why === undefined
        ? Effect.void
        : log(LogLevel.Warning, backend.name, `Cannot make snapshot ${path} mode 0600: ${why}`),
      {
        stdout: finished.stdout,
        exitCode: finished.code,
        stderr: finished.stderr,
        snapshot,
        durationMs: finished.durationMs,
        stoppedMs: Option.fromNullable(finished.stoppedMs),
        request,
        plan
      }
    )
  })

/** The `outcome` tag of a failed trace. */
export const outcomeOf = (error: TraceError): TraceMetrics.Outcome =>
  error._tag === "TraceTimeoutError"
    ? "timeout"
    : error._tag === "TraceBusyError"
    ? error.reason === "sampled-out" ? "sampled_out" : "busy"
    : "failed"

/** One increment per outcome, built once: a storm must not build a tagged metric per trace. */
const increments = Object.fromEntries(
  (["ok", "failed", "timeout", "busy", "dropped", "sampled_out"] as const).map((outcome) => [
    outcome,
    Metrics.incrementOutcome(Metrics.tracesKey, outcome)
  ])
) as Record<TraceMetrics.Outcome, Effect.Effect<void>>

export const count = (outcome: TraceMetrics.Outcome) => increments[outcome]

const uploadOk = Metrics.incrementOutcome(Metrics.uploadsKey, "ok")
const uploadFailed = Metrics.incrementOutcome(Metrics.uploadsKey, "failed")

/**
 * The run's metrics (its duration, how long the process was stopped), then
 * the backend's `finalize`. A `finalize` that fails the trace (the snapshot
 * is incomplete) gets the backend's `abandon`, as a failed run does, and the
 * error names what is left behind.
 */
export const measuredAndFinalized = <P>(
  backend: Any,
  raw: TraceResult<P>
): Effect.Effect<TraceResult<P>, TracerRunError> =>
  Effect.zipRight(
    Effect.zipRight(
      Metric.update(TraceMetrics.tracerRun, raw.durationMs / 1000),
      Option.match(raw.stoppedMs, {
        onNone: () => Effect.void,
        onSome: (ms) => Metric.update(TraceMetrics.processStopped, ms / 1000)
      })
    ),
    backend.finalize === undefined
      ? Effect.succeed(raw)
      : Effect.catchAll(backend.finalize(raw) as Effect.Effect<TraceResult<P>, TracerRunError>, (error) =>
        Effect.flatMap(
          backend.abandon === undefined ? Effect.succeed([]) : backend.abandon(raw.request, raw.plan),
          (leftBehind) => Effect.fail(withLeftBehind(error, leftBehind))
        ))
  )

/** An upload, counted in `bcd.uploads` by outcome. */
export const countUpload = <A, E, R>(upload: Effect.Effect<A, E, R>) =>
  Effect.tapBoth(upload, { onFailure: () => uploadFailed, onSuccess: () => uploadOk })

/** Builds the service for `backend`; closing the scope waits (bounded) for background uploads and captures. */
export const make = (
  backend: Any,
  options: MakeOptions = {}
): Effect.Effect<Tracer, TracerConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* checkBackend(backend)
    const watchdog = options.watchdog ?? Watchdog.detect()
    const inline = options.watchdog !== undefined || options.kill !== undefined
    yield* Runner.warmUp(inline ? { ...(yield* TracerConfig), runner: "inline" } : yield* TracerConfig)
    // Run folders of hosts killed mid-trace, removed in the background.
    yield* Effect.forkDaemon(
      Effect.flatMap(Effect.promise(() => sweepRunDirs()), (removed) =>
        removed.length === 0
          ? Effect.void
          : log(LogLevel.Debug, backend.name, `Removed run folders of dead processes: ${removed.join(", ")}`))
    )
    // The base set as added, across kinds (Go's base options keep their call order).
    const base = yield* Ref.make<ReadonlyArray<BaseOption>>(backend.base === undefined ? [] : toEntries(backend.base))
    const pending = yield* FiberSet.make<void, never>()
    const say = (level: LogLevel.LogLevel, message: string) => log(level, backend.name, message)

    /** The part of a trace after admission: its place is given back once it has left the lock. */
    const traceAdmitted = (
      config: Settings,
      traceOptions: TraceOptions.TraceOptions | undefined,
      error: Option.Option<unknown>
    ): Effect.Effect<TraceResult, TraceError> =>
      Effect.flatMap(currentSpan, (span) => traceInSpan(config, traceOptions, error, span))

    /** A trace whose snapshot, once written, is named by an event on `span`. */
    const traceInSpan = (
      config: Settings,
      traceOptions: TraceOptions.TraceOptions | undefined,
      error: Option.Option<unknown>,
      span: Option.Option<EffectTracer.Span>
    ): Effect.Effect<TraceResult, TraceError> =>
      Effect.gen(function*() {
        const resolved = TraceOptions.resolve(backend.defaultTraceOptions, traceOptions)
        const pid = traceOptions?.pid ?? process.pid
        if (!Number.isSafeInteger(pid) || pid <= 0) {
          return yield* Effect.die(new TracerConfigError({ field: "pid", reason: `not a process id: ${pid}` }))
        }
        const request = yield* makeRequest(yield* Ref.get(base), resolved, error, pid)
        if (typeof config.sample === "function" && !(yield* config.sample(request))) {
          return yield* new TraceBusyError({ reason: "sampled-out" })
        }
        const plan: unknown = backend.plan === undefined ? undefined : yield* backend.plan(request)
        const spec = yield* specOf(backend, request, plan, config)
        yield* say(LogLevel.Debug, `Starting tracer ${spec.command} (${spec.args.length} args)`)
        return yield* runLocked(backend, request, plan, spec, resolved.timeout, config, {
          ...options,
          watchdog,
          inline
        })
      }).pipe(
        Effect.ensuring(Admission.leave),
        Effect.flatMap((raw) => measuredAndFinalized(backend, raw)),
        Effect.tap((result) => say(LogLevel.Debug, `Tracer finished in ${result.durationMs} ms`)),
        Effect.tap((result) =>
          Option.isSome(span) && Option.isSome(result.snapshot)
            ? linkSnapshot(span.value, backend.name, result.snapshot.value)
            : Effect.void
        ),
        Effect.tap((result) => {
          if (backend.put === undefined) return Effect.void
          const upload = countUpload(backend.put(result))
          return config.synchronousPut
            ? upload
            : FiberSet.run(pending, Effect.ignore(Effect.tapError(upload, (e) => say(LogLevel.Error, e.message))))
        })
      )

    /** Counts an admitted trace's outcome; a failure is logged (summarised). */
    const countOutcome = <A>(admittedTrace: Effect.Effect<A, TraceError>) =>
      Effect.tapBoth(admittedTrace, {
        onFailure: (e) => Effect.zipRight(count(outcomeOf(e)), logSummarised(LogLevel.Error, backend.name, e.message)),
        onSuccess: () => count("ok")
      })

    /** What a refused trace does: count, log (summarised), fail. Built once per refusal, not per trace. */
    const refusedTrace = new Map<Admission.Refusal, Effect.Effect<never, TraceError>>(
      Object.values(Admission.refusals).map((refusal) => [
        refusal,
        count(outcomeOf(refusal)).pipe(
          Effect.zipRight(logSummarised(LogLevel.Error, backend.name, refusal.message)),
          // Not Effect.fail: that wraps the error in a Proxy per trace to carry the span.
          Effect.zipRight(Effect.failCause(Cause.fail(refusal)))
        )
      ])
    )
    /** What a refused capture does: count and log (summarised). */
    const refusedCapture = new Map<Admission.Refusal, Effect.Effect<void>>(
      Object.values(Admission.refusals).map((refusal) => [
        refusal,
        Effect.zipRight(
          count(refusal === Admission.refusals.sampledOut ? "sampled_out" : "dropped"),
          logSummarised(LogLevel.Warning, backend.name, `Trace dropped: ${refusal.message}`)
        )
      ])
    )

    /**
     * Admission, before anything is built: `onRefused` at once when the trace
     * cannot run soon (its effect in `onRefused`), else `onAdmitted` with a place taken. The check reads
     * the settings and the clock from the fiber, synchronously: in a storm it
     * runs once per error and must cost next to nothing.
     */
    const admitted = <A, E>(
      traceOptions: TraceOptions.TraceOptions | undefined,
      onAdmitted: (config: Settings) => Effect.Effect<A, E>,
      onRefused: ReadonlyMap<Admission.Refusal, Effect.Effect<A, E>>
    ): Effect.Effect<A, E> =>
      Effect.withFiberRuntime((fiber) => {
        const config = Context.get(fiber.currentContext, TracerConfig)
        const deadline = TraceOptions.deadline(traceOptions?.timeout ?? backend.defaultTraceOptions.timeout)
        const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
        const decide = (roll: number) => {
          const refusal = Admission.decide(config, deadline, roll, clock.unsafeCurrentTimeMillis())
          return refusal === undefined ? onAdmitted(config) : onRefused.get(refusal)!
        }
        return Admission.needsRoll(config) ? Effect.flatMap(Random.next, decide) : decide(0)
      })

    const trace = (error?: unknown, traceOptions?: TraceOptions.TraceOptions): Effect.Effect<TraceResult, TraceError> =>
      admitted(
        traceOptions,
        (config) => traceAdmitted(config, traceOptions, Option.fromNullable(error)).pipe(countOutcome),
        refusedTrace
      )

    const capture = (error?: unknown, traceOptions?: TraceOptions.TraceOptions): Effect.Effect<void> =>
      admitted(
        traceOptions,
        (config) =>
          Effect.asVoid(FiberSet.run(
            pending,
            traceAdmitted(config, traceOptions, Option.fromNullable(error)).pipe(countOutcome, Effect.ignore)
          )),
        refusedCapture
      )

    const add = (entry: BaseOption) => Ref.update(base, (entries) => [...entries, entry])
    const service: Tracer = {
      backend,
      trace,
      capture,
      addKV: (key, value) => add({ _tag: "Attribute", key, value }),
      addClassifier: (name) => add({ _tag: "Classifier", name }),
      addOptions: (...args) => args.length === 0 ? Effect.void : add({ _tag: "Args", args }),
      options: Effect.map(Ref.get(base), toOptions),
      clearOptions: Ref.set(base, []),
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
