/**
 * `Tracer.watchEventLoop`: hang snapshots. A blocked main thread runs no
 * code, so the snapshot is armed in advance here (request, plan, prepare,
 * command: everything a trace builds before it runs) and handed to the
 * watcher (`watcher.mjs`, a Worker), which runs it through the supervisor
 * when the heartbeat stops, under the shared lock and cooldown. Once this
 * thread runs again it turns the run into a `TraceResult` (finalize, upload,
 * metrics, the next cooldown) and arms the next snapshot. ARCHITECTURE.md,
 * "Hang snapshots".
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import { globalValue } from "effect/GlobalValue"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import type { TraceError } from "../../TraceError.js"
import { TracerConfigError, TracerRunError } from "../../TraceError.js"
import * as TraceOptions from "../../TraceOptions.js"
import type { Tracer, WatchEventLoopOptions } from "../../Tracer.js"
import type { TraceRequest } from "../../TracerBackend.js"
import { type Settings, TracerConfig } from "../../TracerConfig.js"
import { findExecutable } from "../core/executable.js"
import * as Lock from "../core/lock.js"
import { log } from "../core/log.js"
import type { Finished, Spec } from "../core/process.js"
import { makeRequest, toEntries } from "../core/request.js"
import { runDirPrefix } from "../core/runDir.js"
import { count, countUpload, measuredAndFinalized, outcomeOf, resultOf, specOf } from "../core/tracer.js"
import * as Client from "../runner/client.js"

/** The watcher's script, beside this module in `src/` and in `dist/`. */
const watcherPath = fileURLToPath(new URL("./watcher.mjs", import.meta.url))

/** One watcher per process: two would each take a snapshot of the same episode. */
const active: { watching: boolean } = globalValue(Symbol.for("effect-bcd/internal/hang/watch"), () => ({
  watching: false
}))

/** The classifier of every hang snapshot. */
const CLASSIFIER = "EventLoopBlocked"

/**
 * What only the watcher knows, written over these marks in the tracer's
 * argv and in its stdout file (the header) when it runs. Each mark is as
 * wide as the widest value it stands for, so the file is patched in place.
 */
const PLACEHOLDERS = {
  blockedMs: "<blocked-ms>", // 12 digits: 31 years
  blockedAt: "<blocked-since-iso-time>" // 24 characters: an ISO time
} as const

/** The attributes of a hang snapshot. */
const ATTRIBUTES = {
  blockedMs: "event_loop.blocked_ms",
  blockedAt: "event_loop.blocked_since",
  thresholdMs: "event_loop.threshold_ms"
} as const

/** An armed snapshot: what the main thread built, kept until the watcher reports. */
interface Kit {
  readonly id: number
  readonly request: TraceRequest
  readonly plan: unknown
  readonly spec: Spec
  readonly program: string
  /** The stdout file's size when armed: larger means a tracer wrote to it. */
  readonly armedSize: number
  readonly message: object
}

/** Messages from the watcher. */
type Report =
  | { readonly op: "skipped"; readonly id: number; readonly reason: string; readonly blockedMs: number }
  | {
    readonly op: "done"
    readonly id: number
    readonly blockedMs: number
    readonly blockedAt: string
    readonly endedAt: number
    readonly stdout: string
    readonly stderr: string
    readonly reply: {
      readonly code?: number | null
      readonly signal?: NodeJS.Signals | null
      readonly durationMs?: number
      readonly deadlinePassed?: boolean
      readonly stoppedMs?: number
      readonly error?: Client.ReplyError
    }
  }

const SKIPPED: Record<string, string> = {
  cooldown: "the cooldown outlasts the deadline",
  lock: "the tracer lock was not free before the deadline",
  unblocked: "the event loop ran again before the cooldown or the lock allowed a snapshot",
  "not-armed": "no snapshot was armed (the previous one was still being handled)"
}

const sizeOf = (file: string | undefined) => {
  if (file === undefined) return -1
  try {
    return fs.statSync(file).size
  } catch {
    return -1
  }
}

/** The request with the watcher's values written over the placeholders. */
const fillIn = (request: TraceRequest, values: Record<keyof typeof PLACEHOLDERS, string>): TraceRequest => {
  const fill = (text: string) =>
    text.replaceAll(PLACEHOLDERS.blockedMs, values.blockedMs).replaceAll(PLACEHOLDERS.blockedAt, values.blockedAt)
  return {
    ...request,
    attributes: request.attributes.map(([key, value]) => [key, fill(value)] as const)
  }
}

const validMillis = (field: string, input: Duration.DurationInput) =>
  Effect.flatMap(
    Effect.try({
      try: () => Duration.toMillis(Duration.decode(input)),
      catch: (cause) => new TracerConfigError({ field, reason: "not a duration", cause })
    }),
    (ms) =>
      Number.isFinite(ms) && ms >= 1
        ? Effect.succeed(Math.round(ms))
        : Effect.fail(new TracerConfigError({ field, reason: "must be a finite duration of 1 ms or more" }))
  )

/** Starts watching the main event loop; the scope's end stops the watcher (after a snapshot under way). */
export const watchEventLoop = (
  tracer: Tracer,
  options: WatchEventLoopOptions
): Effect.Effect<void, TracerConfigError | TracerRunError, Scope.Scope> =>
  Effect.gen(function*() {
    const backend = tracer.backend
    const config: Settings = yield* TracerConfig
    const thresholdMs = yield* validMillis("threshold", options.threshold)
    const intervalMs = options.interval === undefined
      ? Math.min(1000, Math.max(10, Math.round(thresholdMs / 4)))
      : yield* validMillis("interval", options.interval)
    if (config.runner !== "supervisor") {
      return yield* new TracerConfigError({
        field: "runner",
        reason:
          "watchEventLoop runs tracers through the supervisor; the inline runner cannot run while the thread is blocked"
      })
    }
    yield* Effect.acquireRelease(
      Effect.suspend(() => {
        if (active.watching) {
          return Effect.fail(
            new TracerConfigError({
              field: "watchEventLoop",
              reason: "the event loop is already watched in this scope or another"
            })
          )
        }
        active.watching = true
        return Effect.void
      }),
      () => Effect.sync(() => (active.watching = false))
    )
    const connection = yield* Effect.mapError(Client.ensure, (cause) =>
      new TracerConfigError({ field: "runner", reason: cause.message, cause }))
    const say = (level: LogLevel.LogLevel, message: string) =>
      log(level, backend.name, message)
    const resolved = TraceOptions.resolve(backend.defaultTraceOptions, {
      ...options.traceOptions,
      faulted: true,
      callerOnly: false,
      errorClassification: false,
      classifications: [...(options.traceOptions?.classifications ?? []), CLASSIFIER],
      attributes: {
        ...options.traceOptions?.attributes,
        [ATTRIBUTES.blockedMs]: PLACEHOLDERS.blockedMs,
        [ATTRIBUTES.blockedAt]: PLACEHOLDERS.blockedAt,
        [ATTRIBUTES.thresholdMs]: String(thresholdMs)
      }
    })
    const deadlineMs = Option.match(TraceOptions.deadline(resolved.timeout), {
      onNone: () => null,
      onSome: Duration.toMillis
    })
    const heartbeat = new Float64Array(new SharedArrayBuffer(8))
    heartbeat[0] = Date.now()
    const kits = new Map<number, Kit>()
    let nextId = 1
    const handlers = yield* FiberSet.make<void, never>()
    const fork = yield* FiberSet.runtime(handlers)<never>()

    const worker = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const worker = new Worker(watcherPath, {
          workerData: {
            address: connection.address,
            heartbeat: heartbeat.buffer,
            lock: Lock.shared().buffer,
            thresholdMs,
            intervalMs,
            runDirPrefix: runDirPrefix()
          }
        })
        // Watching must not keep a finished program alive.
        worker.unref()
        return worker
      }),
      (worker) => stop(worker, deadlineMs, Duration.toMillis(config.killGrace), handlers, config, kits)
    )

    /** Builds the next snapshot (the thread is free now) and hands it to the watcher. */
    const arm = Effect.gen(function*() {
      // A supervisor that died is started again, so the watcher can reconnect to it when armed.
      yield* Effect.ignore(Client.ensure)
      const request = yield* makeRequest(
        toEntries(yield* tracer.options),
        resolved,
        Option.some(`The event loop has been blocked for ${thresholdMs} ms or more`)
      )
      const planned: unknown = backend.plan === undefined ? undefined : yield* backend.plan(request)
      const spec = yield* specOf(backend, request, planned, config)
      const program = findExecutable(spec.command, spec.env.PATH, spec.cwd)
      if (program === undefined) return yield* new TracerRunError({ path: spec.command, reason: "not-found" })
      // Early, not under the lock: the files must exist before the thread blocks. Removed at the end if unused.
      // Without Node's report: taken now, it would show the process before the hang, and the blocked thread cannot.
      const plan = backend.prepare === undefined
        ? planned
        : yield* Effect.provideService(backend.prepare(request, planned), TracerConfig, {
          ...config,
          nodeReport: false
        })
      const id = nextId++
      const message = {
        op: "arm",
        id,
        ...Client.commandOf(spec, program),
        stdout: spec.stdout === undefined ? null : path.resolve(spec.stdout),
        deadlineMs,
        graceMs: Duration.toMillis(config.killGrace),
        cooldownMs: yield* Lock.peekCooldown(config.rateLimit, Date.now()),
        placeholders: PLACEHOLDERS
      }
      kits.set(id, { id, request, plan, spec, program, armedSize: sizeOf(spec.stdout), message })
      worker.postMessage(message)
    })

    const rearm = Effect.catchAll(
      arm,
      (error) => say(LogLevel.Error, `Cannot arm the next hang snapshot: ${error.message}`)
    )

    /** A finished watcher run, handled like any trace once this thread runs again. */
    const completed = (kit: Kit, report: Extract<Report, { op: "done" }>) =>
      Effect.gen(function*() {
        yield* Lock.cooldownAfter(config.rateLimit, report.endedAt)
        const request = fillIn(kit.request, { blockedMs: String(report.blockedMs), blockedAt: report.blockedAt })
        const { reply } = report
        if (reply.error !== undefined) return yield* Client.replyError(kit.program, reply.error)
        const finished: Finished = {
          path: kit.program,
          code: reply.code ?? null,
          signal: reply.signal ?? null,
          stdout: report.stdout,
          stderr: report.stderr,
          durationMs: reply.durationMs ?? 0,
          deadlinePassed: reply.deadlinePassed ?? false,
          ...(reply.stoppedMs === undefined ? {} : { stoppedMs: reply.stoppedMs })
        }
        const raw = yield* resultOf(backend, request, kit.plan, finished)
        const result = yield* measuredAndFinalized(backend, raw)
        if (backend.put !== undefined) {
          yield* countUpload(backend.put(result))
        }
        yield* count("ok")
        yield* say(
          LogLevel.Warning,
          `The event loop was blocked for ${report.blockedMs} ms or more; snapshot ${
            Option.getOrElse(result.snapshot, () => "taken")
          }`
        )
      }).pipe(
        Effect.catchAll((error: TraceError) =>
          Effect.zipRight(count(outcomeOf(error)), say(LogLevel.Error, `Hang snapshot failed: ${error.message}`))
        )
      )

    const handle = (report: Report): Effect.Effect<void> => {
      const kit = kits.get(report.id)
      if (report.op === "skipped") {
        const note = say(
          LogLevel.Warning,
          `The event loop was blocked for ${report.blockedMs} ms or more; no snapshot: ${
            SKIPPED[report.reason] ?? report.reason
          }`
        )
        // Not run: the same armed snapshot serves the next episode.
        return Effect.zipRight(
          Effect.zipRight(note, count("dropped")),
          Effect.sync(() => kit && worker.postMessage(kit.message))
        )
      }
      if (kit === undefined) return Effect.void
      kits.delete(report.id)
      return Effect.zipRight(completed(kit, report), rearm)
    }

    worker.on("message", (report: Report) => fork(handle(report)))
    worker.on("error", (error) => fork(say(LogLevel.Error, `The event loop watcher failed: ${String(error)}`)))
    yield* arm
    const beat = setInterval(() => {
      heartbeat[0] = Date.now()
    }, intervalMs)
    beat.unref()
    yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(beat)))
  })

/**
 * Stops the watcher: a snapshot under way finishes first (bounded by its
 * deadline and grace), its report is handled, then the armed snapshot that
 * never ran is removed. A watcher that had to be terminated cannot hold the
 * lock word any more, so it is freed.
 */
const stop = (
  worker: Worker,
  deadlineMs: number | null,
  graceMs: number,
  handlers: FiberSet.FiberSet<void, never>,
  config: Settings,
  kits: Map<number, Kit>
) =>
  Effect.gen(function*() {
    const exited = Effect.async<void>((resume) => {
      worker.once("exit", () => resume(Effect.void))
      worker.postMessage({ op: "stop" })
    })
    yield* Effect.timeout(exited, Duration.millis((deadlineMs ?? 60_000) + graceMs + 1000)).pipe(Effect.ignore)
    yield* Effect.promise(() => worker.terminate())
    Lock.freeIfWatcher()
    yield* Effect.ignore(Effect.timeout(Effect.interruptible(FiberSet.awaitEmpty(handlers)), config.drainTimeout))
    for (const kit of kits.values()) {
      // Only what was never written to: a file a tracer wrote into is a snapshot, and is kept.
      if (kit.spec.stdout !== undefined && sizeOf(kit.spec.stdout) === kit.armedSize) {
        fs.rmSync(kit.spec.stdout, { force: true })
      }
    }
  })
