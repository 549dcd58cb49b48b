/**
 * The gdb backend: a header written by us, then gdb attached to this process
 * appending `info threads` and the backtraces (and writing a core file) to the
 * same snapshot file, then a post-processing pass (JIT names, thread roles).
 *
 * @internal
 */
import * as Command from "@effect/platform/Command"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import type { Options, Plan } from "../../Gdb.js"
import { TracerConfigError, TracerRunError } from "../../TraceError.js"
import type * as TraceOptions from "../../TraceOptions.js"
import type { TracerBackend, TraceRequest, TraceResult } from "../../TracerBackend.js"
import { log } from "../core/log.js"
import { errnoText } from "../core/outputDir.js"
import { makePrivate } from "../core/private.js"
import { checkAttributes, checkTimeout } from "../core/validate.js"
import {
  createError,
  createFiles,
  defaultProgram,
  defaultTraceOptions,
  isWriteFailure,
  makeNamer,
  markPartial,
  sanitizeProgram
} from "../snapshot/file.js"
import { jitNames, perfMapPath } from "../snapshot/perfMap.js"
import type { Upload } from "../snapshot/put.js"
import * as Report from "../snapshot/report.js"
import type { Services } from "../upload/file.js"
import { type Capabilities, END_MARKER, gdbArgs, threadSelector } from "./command.js"
import { type DiskSpace, diskSpace, estimateCoreSize, skipReason } from "./core.js"
import { hasLine, rewrite, unnamedAddresses } from "./finalize.js"
import * as Header from "./header.js"
import { prepareOutputDir, probeGdb } from "./probe.js"

/** The default `maxCoreSize`: 4 GiB. */
export const DEFAULT_MAX_CORE_SIZE = 4 * 2 ** 30

/** The backend's name in logs. */
export const NAME = "gdb"

/**
 * Set in gdb's environment. No debuginfod downloads while this process is
 * stopped: gdb 12+ is also told so with `set debuginfod enabled off`, but gdb
 * 10 and 11 only read `DEBUGINFOD_URLS`, which some distributions set for
 * every login.
 */
export const GDB_ENV: Readonly<Record<string, string>> = { DEBUGINFOD_URLS: "" }

/** The resolved settings of one gdb backend. */
export interface Settings {
  readonly gdbPath: string
  readonly capabilities: Capabilities
  readonly outputDir: string
  readonly program: string
  readonly full: boolean
  readonly core: boolean
  readonly maxCoreSize: number
  /** Keep (marked partial) the core of a trace that failed, instead of removing it. */
  readonly keepPartialCores?: boolean
  readonly defaultTraceOptions: TraceOptions.Resolved
  readonly put: Option.Option<Upload>
  /** The upload URL's secrets, kept out of gdb's environment. */
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>>
  /** The space of the file system holding a folder; replaceable in tests. Default {@link diskSpace}. */
  readonly diskSpace?: (dir: string) => DiskSpace | undefined
}

/** Why `callerOnly` shows every thread for this request, if it does. */
const callerOnlyFallback = (caps: Capabilities, request: TraceRequest): Option.Option<string> => {
  if (!request.callerOnly) return Option.none()
  if (Option.isNone(request.tid)) return Option.some("the calling thread's id is unknown, so all threads are shown")
  return threadSelector(caps, request.pid, request.tid.value) === undefined
    ? Option.some("this gdb has no Python to find a thread by its LWP, so all threads are shown")
    : Option.none()
}

/**
 * What a failed trace leaves: the snapshot, marked partial (`.partial`), and
 * the core, removed (it is cut short and can be gigabytes) unless
 * `keepPartialCores`, then marked partial too. Returns the paths left.
 */
const abandonFiles = (settings: Settings, plan: Plan): Effect.Effect<ReadonlyArray<string>> =>
  Effect.gen(function*() {
    const left: Array<string> = []
    const snapshot = markPartial(plan.snapshot)
    if (snapshot !== undefined) left.push(snapshot)
    if (Option.isSome(plan.core) && fs.existsSync(plan.core.value)) {
      const core = plan.core.value
      if (settings.keepPartialCores === true) {
        left.push(markPartial(core) ?? core)
      } else {
        fs.rmSync(core, { force: true })
        yield* log(LogLevel.Warning, NAME, `Removed the partial core file ${core} (keepPartialCores: false)`)
      }
    }
    return left
  }).pipe(Effect.catchAllDefect(() => Effect.succeed([plan.snapshot])))

/** The trace's error for a snapshot without gdb's end marker (the Tracer then abandons its files). */
const incomplete = (settings: Settings, why: string): Effect.Effect<never, TracerRunError> =>
  Effect.fail(
    new TracerRunError({
      path: settings.gdbPath,
      reason: "incomplete",
      detail: `wrote an incomplete snapshot (no end marker): ${why}`
    })
  )

/**
 * Post-processes a finished snapshot: names JIT frames, labels threads,
 * drops an unused core. A snapshot without gdb's end marker (gdb stopped
 * part way, or its writes failed: a full disk) fails the trace.
 */
const finalizeSnapshot = (
  settings: Settings,
  plan: Plan,
  request: TraceRequest
): Effect.Effect<void, TracerRunError> => {
  const { faulted, pid, tid } = request
  const say = (level: LogLevel.LogLevel, message: string) => log(level, NAME, message)
  // gdb removes a core it could not write (its reason is in the snapshot); an empty one is ours, unused.
  const checkCore = Option.match(plan.core, {
    onNone: () => Effect.void,
    onSome: (core) =>
      Effect.suspend(() => {
        const size = fs.statSync(core, { throwIfNoEntry: false })?.size
        if (size !== undefined && size > 0) {
          const why = makePrivate(core)
          return why === undefined ? Effect.void : say(LogLevel.Warning, `Cannot make ${core} mode 0600: ${why}`)
        }
        if (size === 0) fs.rmSync(core, { force: true })
        return say(LogLevel.Error, `Core file ${core} was not written; gdb's reason is in ${plan.snapshot}`)
      }).pipe(Effect.catchAllDefect(() => Effect.void))
  })
  const postProcess = Effect.tryPromise(async () => {
    const names = await jitNames(perfMapPath(pid), () => unnamedAddresses(plan.snapshot))
    return rewrite(plan.snapshot, { pid, tid: Option.getOrUndefined(tid), faulted }, names)
  }).pipe(
    Effect.matchEffect({
      onSuccess: (summary) =>
        summary.complete
          ? say(
            LogLevel.Debug,
            `Snapshot ${plan.snapshot}: ${summary.threads} threads, ${summary.jitFrames} JIT frames named`
          )
          : incomplete(settings, "gdb stopped part way, or could not write it (a full disk?)"),
      // The rewrite failed (no room for its copy?): gdb's own output decides whether the snapshot is whole.
      onFailure: (error) =>
        Effect.flatMap(Effect.promise(() => hasLine(plan.snapshot, END_MARKER)), (complete) =>
          complete
            ? say(
              LogLevel.Warning,
              `Snapshot ${plan.snapshot} kept as gdb wrote it; post-processing failed: ${String(error.error)}`
            )
            : incomplete(
              settings,
              isWriteFailure(error.error)
                ? `writing it failed: ${errnoText(error.error)}`
                : "gdb stopped part way, or could not write it (a full disk?)"
            ))
    })
  )
  return Effect.zipRight(postProcess, checkCore)
}

/** Builds a backend from validated settings; file names are unique per backend. */
export const fromSettings = (settings: Settings): Effect.Effect<TracerBackend<Plan>> =>
  Effect.map(makeNamer(settings.outputDir, settings.program), (uniqueBase) => {
    /** Why a core of `pid` should not be written now, if it should not. */
    const coreSkipReason = (pid: number) =>
      Option.fromNullable(
        skipReason(estimateCoreSize(pid), (settings.diskSpace ?? diskSpace)(settings.outputDir), settings.maxCoreSize)
      )

    const plan = (request: TraceRequest): Effect.Effect<Plan> =>
      Effect.gen(function*() {
        const time = new Date(yield* Clock.currentTimeMillis)
        const base = yield* uniqueBase(request.pid, time)
        const coreSkipped = settings.core ? coreSkipReason(request.pid) : Option.none()
        return {
          snapshot: `${base}.txt`,
          time,
          core: settings.core && Option.isNone(coreSkipped) ? Option.some(`${base}.core`) : Option.none(),
          coreSkipped
        }
      })

    const command = (request: TraceRequest, plan: Plan) =>
      Command.make(
        settings.gdbPath,
        ...gdbArgs(settings.capabilities, {
          pid: request.pid,
          tid: request.tid,
          faulted: request.faulted,
          callerOnly: request.callerOnly,
          full: settings.full,
          snapshot: plan.snapshot,
          core: plan.core,
          args: request.args
        })
      ).pipe(Command.env(GDB_ENV))

    /**
     * With the lock held, right before gdb starts: a trace that times out waiting leaves no file. The core is
     * checked again now: the cores of traces that were queued with this one are on disk by now. With Python,
     * gdb writes the core only if its file exists, so leaving the file out leaves the core out.
     */
    const prepare = (request: TraceRequest, planned: Plan): Effect.Effect<Plan, TracerRunError> => {
      const skipped = Option.isSome(planned.core) && settings.capabilities.python
        ? coreSkipReason(request.pid)
        : Option.none()
      const plan = Option.isSome(skipped) ? { ...planned, core: Option.none(), coreSkipped: skipped } : planned
      return Effect.flatMap(Report.forSnapshot(settings.secrets ?? []), (report) =>
        Effect.try({
          try: () => {
            createFiles(
              plan.snapshot,
              Header.render(request, {
                time: plan.time,
                program: settings.program,
                core: plan.core,
                coreSkipped: plan.coreSkipped,
                callerOnlyFallback: callerOnlyFallback(settings.capabilities, request),
                report
              }),
              Option.toArray(plan.core)
            )
            return plan
          },
          catch: createError(settings.gdbPath, settings.outputDir)
        }))
    }

    return {
      name: NAME,
      program: settings.gdbPath,
      secrets: settings.secrets ?? [],
      defaultTraceOptions: settings.defaultTraceOptions,
      plan,
      command,
      prepare,
      snapshot: (_stdout, _request, plan) => Option.some(plan.snapshot),
      finalize: (result) => Effect.as(finalizeSnapshot(settings, result.plan, result.request), result),
      abandon: (_request, plan) => abandonFiles(settings, plan),
      ...Option.match(settings.put, {
        onNone: () => ({}),
        onSome: (put) => ({ put: (result: TraceResult<Plan>) => put(result.plan, result.request) })
      })
    }
  })

/**
 * Validates `options` (gdb found and answering, output folder writable) and
 * builds the backend. Uploads take the platform services from context, and
 * only when `put` is given.
 */
export const make = (options: Options): Effect.Effect<TracerBackend<Plan>, TracerConfigError, Services> =>
  Effect.gen(function*() {
    const maxCoreSize = options.maxCoreSize ?? DEFAULT_MAX_CORE_SIZE
    if (!Number.isFinite(maxCoreSize) || maxCoreSize < 0) {
      return yield* new TracerConfigError({ field: "maxCoreSize", reason: "must be a number of bytes, 0 or more" })
    }
    yield* checkAttributes(options.attributes ?? {})
    yield* checkTimeout("defaultTraceOptions.timeout", options.defaultTraceOptions?.timeout)
    // The URL first: a layer that fails on it creates no folder.
    const put = options.put === undefined
      ? Option.none()
      : Option.some(
        yield* Effect.flatMap(Effect.promise(() => import("../snapshot/put.js")), (m) => m.makePut(options.put!, NAME))
      )
    const gdb = yield* probeGdb(options.gdbPath ?? "gdb")
    const outputDir = yield* prepareOutputDir(options.outputDir ?? "snapshots")
    return yield* fromSettings({
      gdbPath: gdb.path,
      capabilities: gdb.capabilities,
      outputDir,
      program: options.program === undefined ? defaultProgram() : sanitizeProgram(options.program),
      full: options.full ?? false,
      core: options.core ?? false,
      maxCoreSize,
      keepPartialCores: options.keepPartialCores ?? false,
      defaultTraceOptions: defaultTraceOptions(options),
      put: Option.map(put, (p) => p.upload),
      secrets: Option.match(put, { onNone: () => [], onSome: (p) => p.secrets })
    })
  })
