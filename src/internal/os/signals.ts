/**
 * `Tracer.register`: a trace on each listed signal, then (with
 * `resendSignal`) the signal's default action, as Go's `Register` and
 * `ResendSignal`.
 *
 * One listener per signal is installed process-wide, whatever the number of
 * registrations: it hands the signal to the most recent registration that
 * lists it, so a second registration never traces the same signal twice.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import { globalValue } from "effect/GlobalValue"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as os from "node:os"
import { SignalError, TracerConfigError } from "../../TraceError.js"
import type { Tracer } from "../../Tracer.js"
import { TracerConfig } from "../../TracerConfig.js"
import { log } from "../core/log.js"
import { drainPending } from "../core/tracer.js"
import { loadSigaction, type Sigaction } from "./permissions.js"

/** Backtrace's default set. */
export const DEFAULT_SIGNALS: ReadonlyArray<NodeJS.Signals> = ["SIGABRT", "SIGFPE", "SIGSEGV", "SIGILL", "SIGBUS"]

const REFUSED: Partial<Record<NodeJS.Signals, string>> = {
  SIGKILL: "SIGKILL cannot be caught",
  SIGSTOP: "SIGSTOP cannot be caught",
  SIGUSR1: "SIGUSR1 is reserved by Node.js for its inspector (the debugger)"
}

/** Signals Node ignores at start-up: re-sending them would kill a process that would have lived. */
const NODE_IGNORES: ReadonlySet<string> = new Set(["SIGPIPE", "SIGXFSZ"])

/**
 * Signals a real fault raises. libuv's handler only notes a signal and
 * returns, so with a JS listener alone a real fault repeats for ever: the
 * process hangs at 100% CPU instead of crashing.
 */
const FAULTS: ReadonlySet<string> = new Set(["SIGSEGV", "SIGBUS", "SIGFPE", "SIGILL"])
const SA_RESETHAND = 0x80000000 | 0
/** `struct sigaction` on 64-bit Linux: its size and where `sa_flags` is. */
const SIGACTION_BYTES = 152
const SA_FLAGS_AT = 136

/** Checks a signal set: not empty, only known signals that Node may listen to; duplicates dropped. */
export const validate = (
  signals: ReadonlyArray<string>
): Effect.Effect<ReadonlyArray<NodeJS.Signals>, TracerConfigError> => {
  const fail = (reason: string) => Effect.fail(new TracerConfigError({ field: "signals", reason }))
  if (signals.length === 0) {
    return fail("the signal set is empty; list at least one signal (an empty set never means all signals)")
  }
  for (const signal of signals) {
    const refused = REFUSED[signal as NodeJS.Signals]
    if (refused !== undefined) return fail(refused)
    if (!Object.hasOwn(os.constants.signals, signal)) return fail(`unknown signal ${JSON.stringify(signal)}`)
  }
  return Effect.succeed([...new Set(signals)] as ReadonlyArray<NodeJS.Signals>)
}

interface Registration {
  readonly onSignal: (signal: NodeJS.Signals) => void
}

interface SignalState {
  /** Per signal, the registrations listing it, most recent last. */
  readonly registrations: Map<NodeJS.Signals, Array<Registration>>
  /** Per signal, the one listener installed on `process`. */
  readonly listeners: Map<NodeJS.Signals, (signal: NodeJS.Signals) => void>
  /**
   * Signals whose trace is running, each with whether it was delivered again
   * meanwhile: repeats are coalesced into one more trace afterwards, as Go's
   * buffered signal channel does.
   */
  readonly inFlight: Map<NodeJS.Signals, boolean>
  /** Per fault signal, libuv's `struct sigaction` made one-shot (SA_RESETHAND). */
  readonly oneShot: Map<NodeJS.Signals, Buffer>
  /** `sigaction(2)`, once loaded (koffi); `null` where unavailable. */
  sigaction: Sigaction | null | undefined
}

/** Process-wide, shared by every copy of this library. */
export const state: SignalState = globalValue(Symbol.for("effect-bcd/internal/signals"), () => ({
  registrations: new Map(),
  listeners: new Map(),
  inFlight: new Map(),
  oneShot: new Map(),
  sigaction: undefined
}))

/**
 * Makes libuv's handler for a fault signal one-shot. A real fault then meets
 * the default action on its second try and kills the process, as without the
 * library; a signal sent with kill reaches our listener, which arms it again.
 * Without koffi this does nothing (see docs/signals.md).
 */
const armOneShot = (signal: NodeJS.Signals) => {
  const sigaction = state.sigaction
  if (!FAULTS.has(signal) || sigaction == null) return
  const number = os.constants.signals[signal]
  let action = state.oneShot.get(signal)
  if (action === undefined) {
    action = Buffer.alloc(SIGACTION_BYTES)
    // SIG_DFL (0) or SIG_IGN (1): not libuv's handler, leave it alone.
    if (sigaction(number, null, action) !== 0 || action.readBigUInt64LE(0) <= 1n) return
    action.writeInt32LE(action.readInt32LE(SA_FLAGS_AT) | SA_RESETHAND, SA_FLAGS_AT)
    state.oneShot.set(signal, action)
  }
  sigaction(number, action, null)
}

/** After our listener went: libuv's handler, if other listeners keep it, is persistent again. */
const disarmOneShot = (signal: NodeJS.Signals) => {
  const action = state.oneShot.get(signal)
  state.oneShot.delete(signal)
  if (action === undefined || state.sigaction == null || process.listenerCount(signal) === 0) return
  const persistent = Buffer.from(action)
  persistent.writeInt32LE(action.readInt32LE(SA_FLAGS_AT) & ~SA_RESETHAND, SA_FLAGS_AT)
  state.sigaction(os.constants.signals[signal], persistent, null)
}

const dispatch = (signal: NodeJS.Signals) => {
  if (state.inFlight.has(signal)) {
    state.inFlight.set(signal, true)
    return
  }
  state.registrations.get(signal)?.at(-1)?.onSignal(signal)
}

/** Ends `signal`'s trace; a delivery meanwhile starts the next, if we still listen. */
const settle = (signal: NodeJS.Signals) => {
  const again = state.inFlight.get(signal) === true
  state.inFlight.delete(signal)
  if (again && state.listeners.has(signal)) dispatch(signal)
}

const install = (signal: NodeJS.Signals, registration: Registration) => {
  const stack = state.registrations.get(signal)
  if (stack !== undefined) {
    stack.push(registration)
    return
  }
  state.registrations.set(signal, [registration])
  const listener = (received: NodeJS.Signals) => {
    // Only a signal sent with kill gets here (a real fault never lets JS run): arm the next one.
    armOneShot(received)
    dispatch(received)
  }
  state.listeners.set(signal, listener)
  process.on(signal, listener)
  armOneShot(signal)
}

/** Removes `registration` for `signal`; the listener goes with the last one. */
const uninstall = (signal: NodeJS.Signals, registration: Registration) => {
  const stack = state.registrations.get(signal)
  if (stack === undefined) return
  const index = stack.lastIndexOf(registration)
  if (index >= 0) stack.splice(index, 1)
  if (stack.length === 0) removeListener(signal)
}

const removeListener = (signal: NodeJS.Signals) => {
  state.registrations.delete(signal)
  const listener = state.listeners.get(signal)
  state.listeners.delete(signal)
  if (listener !== undefined) process.off(signal, listener)
  disarmOneShot(signal)
}

/**
 * Restores `signal`'s default handling and sends it again, so the process
 * ends as it would have without us. When the program has listeners of its
 * own, Node never applied the default action: they handle it, nothing is
 * sent, and our listener stays, so the next delivery is traced too.
 */
export const resend = (signal: NodeJS.Signals): boolean => {
  const ours = state.listeners.has(signal) ? 1 : 0
  if (NODE_IGNORES.has(signal) || process.listenerCount(signal) > ours) return false
  removeListener(signal)
  process.kill(process.pid, signal)
  return true
}

/**
 * The error a signal is traced with. Its stack would be this library's own
 * listener, which says nothing about the signal: it says instead that a
 * signal has no JS stack, and that the threads in the snapshot show where
 * each thread was.
 */
export const signalError = (signal: NodeJS.Signals): SignalError => {
  const error = new SignalError({ signal })
  Object.defineProperty(error, "stack", {
    value:
      `SignalError: ${error.message} (${signal})\n    (a signal has no JS stack: the threads below show where each thread was)`,
    configurable: true,
    writable: true
  })
  return error
}

/** Traces each of `signals` while the scope is open. */
export const register = (
  tracer: Tracer,
  signals: ReadonlyArray<NodeJS.Signals> | undefined
): Effect.Effect<void, TracerConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const valid = yield* validate(signals ?? tracer.backend.signals ?? DEFAULT_SIGNALS)
    if (state.sigaction === undefined && valid.some((signal) => FAULTS.has(signal))) {
      state.sigaction = Option.getOrNull(yield* loadSigaction)
    }
    const runtime = yield* Effect.runtime<never>()
    const running = new Set<Fiber.RuntimeFiber<void>>()
    const say = (level: LogLevel.LogLevel, message: string) => log(level, tracer.backend.name, message)

    const handle = (signal: NodeJS.Signals) =>
      Effect.gen(function*() {
        const config = yield* TracerConfig
        yield* say(LogLevel.Debug, `Received ${signal}; executing tracer`)
        // A failed trace is already logged by the tracer; whatever happened, the signal's fate is the same.
        yield* Effect.ignore(tracer.trace(signalError(signal), { attributes: { signal } })).pipe(
          Effect.catchAllDefect((defect) => say(LogLevel.Error, `Tracing ${signal} failed: ${String(defect)}`))
        )
        if (!config.resendSignal) return
        yield* drainPending(tracer)
        yield* say(LogLevel.Debug, `Resending ${signal} to the default handler`)
        yield* Effect.sync(() => resend(signal))
      }).pipe(Effect.ensuring(Effect.sync(() => settle(signal))))

    const registration: Registration = {
      onSignal: (signal) => {
        state.inFlight.set(signal, false)
        const fiber = Runtime.runFork(runtime)(handle(signal))
        running.add(fiber)
        fiber.addObserver(() => running.delete(fiber))
      }
    }

    yield* Effect.acquireRelease(
      Effect.sync(() => valid.forEach((signal) => install(signal, registration))),
      () =>
        Effect.sync(() => valid.forEach((signal) => uninstall(signal, registration))).pipe(
          // A trace already started is finished (it is bounded by its own deadline), not killed.
          Effect.zipRight(Fiber.awaitAll([...running]))
        )
    )
    yield* say(LogLevel.Debug, `Registered tracer ${tracer.backend.name} (signal set: ${valid.join(", ")})`)
  })
