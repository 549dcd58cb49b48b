/**
 * `Tracer.handleUncaught`: a trace for each `uncaughtException` and
 * `unhandledRejection`, then Node's own behaviour.
 *
 * Listening to either event turns off Node's default (print and exit 1). So
 * after the trace, when the program has no listener of its own, the event is
 * replayed with our listeners removed: the exception is thrown again, the
 * rejection is made again on a new promise. Node then does exactly what it
 * would have done, honouring `--unhandled-rejections`,
 * `--abort-on-uncaught-exception`, the 'exit' event and the program's own
 * `uncaughtException` listeners (which see a replayed rejection once).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import * as LogLevel from "effect/LogLevel"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type { Tracer } from "../../Tracer.js"
import { TracerConfig } from "../../TracerConfig.js"
import { log } from "../core/log.js"
import { drainPending } from "../core/tracer.js"

interface Registration {
  readonly onException: (error: unknown) => void
  readonly onRejection: (reason: unknown) => void
}

interface UncaughtState {
  /** Registrations, most recent last; only the last one traces. */
  readonly registrations: Array<Registration>
  /** Set while an event that ends the process is traced and replayed: later events are not traced. */
  ending: boolean
  /** Set once an exception is re-thrown: the process is ending, our listeners stay off. */
  rethrown: boolean
  /**
   * Set when Node raised a rejection as an uncaught exception
   * (`--unhandled-rejections=strict`): the 'unhandledRejection' it emits
   * right after is the same event, already traced.
   */
  raisedRejection: boolean
}

const state: UncaughtState = globalValue(Symbol.for("effect-bcd/internal/uncaught"), () => ({
  registrations: [],
  ending: false,
  rethrown: false,
  raisedRejection: false
}))

const onException = (error: unknown, origin: NodeJS.UncaughtExceptionOrigin) => {
  if (origin === "unhandledRejection") {
    state.raisedRejection = true
    // Node emits the event in the same pass over its pending rejections, before any microtask.
    queueMicrotask(() => {
      state.raisedRejection = false
    })
  }
  state.registrations.at(-1)?.onException(error)
}

const onRejection = (reason: unknown) => {
  if (state.raisedRejection) {
    state.raisedRejection = false
    return
  }
  state.registrations.at(-1)?.onRejection(reason)
}

/** Other listeners than ours for `event`. */
const others = (event: "uncaughtException" | "unhandledRejection", ours: (...args: Array<never>) => void) =>
  (process.listeners as (event: string) => Array<unknown>)(event).filter((listener) => listener !== ours).length

const removeListeners = () => {
  process.off("uncaughtException", onException)
  process.off("unhandledRejection", onRejection)
}

const addListeners = () => {
  if (!process.listeners("uncaughtException").includes(onException)) process.on("uncaughtException", onException)
  if (!process.listeners("unhandledRejection").includes(onRejection)) process.on("unhandledRejection", onRejection)
}

/**
 * Node's `--unhandled-rejections` mode, from the command line or else
 * NODE_OPTIONS (last one wins); Node 20's default is "throw".
 */
export const rejectionsMode = (
  execArgv: ReadonlyArray<string> = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? ""
): string => {
  const find = (args: ReadonlyArray<string>) => {
    let mode: string | undefined
    args.forEach((arg, i) => {
      if (arg.startsWith("--unhandled-rejections=")) mode = arg.slice("--unhandled-rejections=".length)
      else if (arg === "--unhandled-rejections" && args[i + 1] !== undefined) mode = args[i + 1]
    })
    return mode
  }
  return find(execArgv) ?? find(nodeOptions.split(/\s+/).filter((a) => a !== "")) ?? "throw"
}

/** Throws `error` again from a fresh task, with our listeners gone: Node prints it and exits 1. */
const rethrow = (error: unknown) => {
  state.rethrown = true
  removeListeners()
  setImmediate(() => {
    throw error // effect-bcd: the uncaught exception, re-thrown after its trace
  })
}

/**
 * Rejects a new promise with `reason`, with our listeners gone: Node applies
 * its `--unhandled-rejections` mode, and in "throw" mode raises it as an
 * uncaught exception, which only the program's own listeners (if any) see.
 */
const rereject = (reason: unknown) => {
  removeListeners()
  void Promise.reject(reason)
  setImmediate(() => {
    // Node did not end the process (a listener of the program's own, or `--unhandled-rejections=none`): carry on tracing.
    if (state.rethrown) return
    state.ending = false
    if (state.registrations.length > 0) addListeners()
  })
}

/** Traces uncaught exceptions and unhandled rejections while the scope is open. */
export const handleUncaught = (tracer: Tracer): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const say = (message: string) => log(LogLevel.Debug, tracer.backend.name, message)

    const traceThen = (
      what: string,
      uncaught: "exception" | "rejection",
      error: unknown,
      ending: boolean,
      replay: () => void
    ) => {
      if (state.ending) return
      state.ending = ending
      const traced = Effect.ignore(tracer.trace(error, { attributes: { uncaught } }))
      // Node's contract is that the process ends: the trace and its uploads get `fatalBudget`, no more.
      const fatal = Effect.flatMap(TracerConfig, (config) =>
        Effect.zipRight(traced, drainPending(tracer)).pipe(
          Effect.timeout(config.fatalBudget),
          Effect.catchAll(() =>
            log(
              LogLevel.Error,
              tracer.backend.name,
              `${what}: the trace and its upload did not finish within fatalBudget; ending the process as Node would` +
                " (a snapshot not uploaded stays on disk)"
            )
          )
        ))
      Runtime.runFork(runtime)(
        say(`${what}; executing tracer`).pipe(
          Effect.zipRight(ending ? fatal : traced),
          Effect.ensuring(Effect.sync(() => ending && replay()))
        )
      )
    }

    const registration: Registration = {
      onException: (error) =>
        traceThen("Uncaught exception", "exception", error, others("uncaughtException", onException) === 0, () =>
          rethrow(error)),
      // In "warn" mode Node warns even though we listen: its behaviour is already done.
      onRejection: (reason) =>
        traceThen(
          "Unhandled rejection",
          "rejection",
          reason,
          others("unhandledRejection", onRejection) === 0 && rejectionsMode() !== "warn",
          () =>
            rereject(reason)
        )
    }

    yield* Effect.acquireRelease(
      Effect.sync(() => {
        state.registrations.push(registration)
        addListeners()
      }),
      () =>
        Effect.sync(() => {
          const index = state.registrations.lastIndexOf(registration)
          if (index >= 0) {
            state.registrations.splice(index, 1)
          }
          if (state.registrations.length === 0) {
            removeListeners()
          }
        })
    )
  })
