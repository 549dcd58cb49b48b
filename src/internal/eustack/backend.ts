/**
 * The eu-stack backend: a header written by us, then eu-stack's stdout
 * appended to the same snapshot file by the core (never read into this
 * process), then a post-processing pass (thread roles, JIT names, the end
 * line).
 *
 * @internal
 */
import * as Command from "@effect/platform/Command"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { Options, Plan } from "../../EuStack.js"
import { type TracerConfigError, TracerRunError } from "../../TraceError.js"
import type * as TraceOptions from "../../TraceOptions.js"
import type { TracerBackend, TraceRequest, TraceResult } from "../../TracerBackend.js"
import { log } from "../core/log.js"
import { ensureOutputDir, errnoText } from "../core/outputDir.js"
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
import * as Header from "../snapshot/header.js"
import { jitNames, perfMapPath } from "../snapshot/perfMap.js"
import type { Upload } from "../snapshot/put.js"
import * as Report from "../snapshot/report.js"
import type { Services } from "../upload/file.js"
import { callerOnlyThread, euStackArgs } from "./command.js"
import { FOLLOWS, rewrite, unnamedAddresses } from "./finalize.js"
import { probeEuStack } from "./probe.js"

/** The backend's name in logs and in the snapshot's first line. */
export const NAME = "eu-stack"

/**
 * Set in eu-stack's environment. elfutils asks debuginfod servers for
 * missing debug information when `DEBUGINFOD_URLS` is set (some
 * distributions set it for every login); no download may happen while a
 * thread is stopped.
 */
export const EU_STACK_ENV: Readonly<Record<string, string>> = { DEBUGINFOD_URLS: "" }

/**
 * Exit codes that are a snapshot: 0, and 1, which eu-stack uses when it
 * printed what it could but some frames had errors (a thread that ended
 * while it was read: routine in a process whose workers come and go).
 */
export const EXIT_CODES: ReadonlyArray<number> = [0, 1]

/** The resolved settings of one eu-stack backend. */
export interface Settings {
  readonly euStackPath: string
  readonly outputDir: string
  readonly program: string
  readonly defaultTraceOptions: TraceOptions.Resolved
  readonly put: Option.Option<Upload>
  /** The upload URL's secrets, kept out of eu-stack's environment. */
  readonly secrets?: ReadonlyArray<Redacted.Redacted<string>>
}

/** What a failed trace leaves: the snapshot, marked partial (`.partial`). */
const abandonFiles = (plan: Plan): Effect.Effect<ReadonlyArray<string>> =>
  Effect.sync(() => Option.toArray(Option.fromNullable(markPartial(plan.snapshot)))).pipe(
    Effect.catchAllDefect(() => Effect.succeed([plan.snapshot]))
  )

/**
 * Post-processes a finished snapshot: labels threads, names JIT frames, adds
 * the end line. A rewrite that fails to write (a full disk) fails the trace:
 * eu-stack's output may be cut short too, and the end line is missing.
 */
const finalizeSnapshot = (settings: Settings, result: TraceResult<Plan>): Effect.Effect<void, TracerRunError> => {
  const { faulted, pid, tid } = result.request
  const snapshot = result.plan.snapshot
  const say = (level: LogLevel.LogLevel, message: string) => log(level, NAME, message)
  return Effect.tryPromise(async () => {
    const names = await jitNames(perfMapPath(pid), () => unnamedAddresses(snapshot))
    return rewrite(snapshot, { pid, tid: Option.getOrUndefined(tid), faulted }, names, result)
  }).pipe(
    Effect.flatMap((summary) =>
      result.exitCode === 0
        ? say(LogLevel.Debug, `Snapshot ${snapshot}: ${summary.threads} threads, ${summary.jitFrames} JIT frames named`)
        : say(
          LogLevel.Warning,
          `Snapshot ${snapshot}: eu-stack exited with code ${result.exitCode}, some frames are missing: ` +
            result.stderr.trim().split("\n").slice(0, 3).join(" | ")
        )
    ),
    Effect.catchAll((error) =>
      isWriteFailure(error.error)
        // The Tracer then abandons its files (marked partial).
        ? Effect.fail(
          new TracerRunError({
            path: settings.euStackPath,
            reason: "incomplete",
            detail: `wrote an incomplete snapshot (no end line): writing it failed: ${errnoText(error.error)}`
          })
        )
        : say(
          LogLevel.Warning,
          `Snapshot ${snapshot} kept as eu-stack wrote it; post-processing failed: ${String(error.error)}`
        )
    )
  )
}

/** Builds a backend from validated settings; file names are unique per backend. */
export const fromSettings = (settings: Settings): Effect.Effect<TracerBackend<Plan>> =>
  Effect.map(makeNamer(settings.outputDir, settings.program), (uniqueBase) => {
    const plan = (request: TraceRequest): Effect.Effect<Plan> =>
      Effect.gen(function*() {
        const time = new Date(yield* Clock.currentTimeMillis)
        return { snapshot: `${yield* uniqueBase(request.pid, time)}.txt`, time }
      })

    const command = (request: TraceRequest, _plan: Plan) =>
      Command.make(
        settings.euStackPath,
        ...euStackArgs({ pid: request.pid, tid: request.tid, callerOnly: request.callerOnly, args: request.args })
      ).pipe(Command.env(EU_STACK_ENV))

    /** With the lock held, right before eu-stack starts: a trace that times out waiting leaves no file. */
    const prepare = (request: TraceRequest, plan: Plan): Effect.Effect<Plan, TracerRunError> =>
      Effect.flatMap(Report.forSnapshot(settings.secrets ?? []), (report) =>
        Effect.try({
          try: () => {
            createFiles(
              plan.snapshot,
              Header.render(request, {
                tracer: NAME,
                follows: FOLLOWS,
                time: plan.time,
                program: settings.program,
                core: Option.none(),
                coreSkipped: Option.none(),
                callerOnlyFallback: request.callerOnly && Option.isNone(callerOnlyThread(request))
                  ? Option.some("the calling thread's id is unknown, so all threads are shown")
                  : Option.none(),
                report
              })
            )
            return plan
          },
          catch: createError(settings.euStackPath, settings.outputDir)
        }))

    return {
      name: NAME,
      program: settings.euStackPath,
      defaultTraceOptions: settings.defaultTraceOptions,
      secrets: settings.secrets ?? [],
      plan,
      command,
      prepare,
      // eu-stack's stdout goes straight into the snapshot, after the header: never through this process.
      stdio: (_request, plan) => ({ stdout: plan.snapshot }),
      exitCodes: EXIT_CODES,
      snapshot: (_stdout, _request, plan) => Option.some(plan.snapshot),
      finalize: (result) => Effect.as(finalizeSnapshot(settings, result), result),
      abandon: (_request, plan) => abandonFiles(plan),
      ...Option.match(settings.put, {
        onNone: () => ({}),
        onSome: (put) => ({
          put: (result: TraceResult<Plan>) =>
            put({ snapshot: result.plan.snapshot, core: Option.none() }, result.request)
        })
      })
    }
  })

/**
 * Validates `options` (eu-stack found and answering, output folder
 * writable) and builds the backend. Uploads take the platform services from
 * context, and only when `put` is given.
 */
export const make = (options: Options): Effect.Effect<TracerBackend<Plan>, TracerConfigError, Services> =>
  Effect.gen(function*() {
    yield* checkAttributes(options.attributes ?? {})
    yield* checkTimeout("defaultTraceOptions.timeout", options.defaultTraceOptions?.timeout)
    // The URL first: a layer that fails on it creates no folder.
    const put = options.put === undefined
      ? Option.none()
      : Option.some(
        yield* Effect.flatMap(Effect.promise(() => import("../snapshot/put.js")), (m) => m.makePut(options.put!, NAME))
      )
    const euStack = yield* probeEuStack(options.euStackPath ?? "eu-stack")
    const outputDir = yield* ensureOutputDir(options.outputDir ?? "snapshots", 0o700)
    return yield* fromSettings({
      euStackPath: euStack.path,
      outputDir,
      program: options.program === undefined ? defaultProgram() : sanitizeProgram(options.program),
      defaultTraceOptions: defaultTraceOptions(options),
      put: Option.map(put, (p) => p.upload),
      secrets: Option.match(put, { onNone: () => [], onSome: (p) => p.secrets })
    })
  })
