/**
 * The process-wide tracer lock and its cooldown (Go's `traceLock` and
 * `traceUnlockRL`).
 *
 * The cooldown is not a timer that outlives a trace: each trace records when
 * the next may start, and the next trace waits for that moment while it holds
 * the permit. A finished program therefore never waits out a cooldown.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"
import { globalValue } from "effect/GlobalValue"
import type * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"

/** A trace waiting for the permit. */
interface Waiter {
  readonly granted: Deferred.Deferred<void>
  /** `cancelled`: interrupted while waiting, skipped when the permit is handed on. */
  status: "waiting" | "granted" | "cancelled"
}

interface LockState {
  /** A tracer of this process holds the permit. */
  held: boolean
  /** Waiting traces, oldest first, from `head` on (a FIFO without O(n) shifts). */
  readonly queue: Array<Waiter>
  head: number
  /** Epoch millis before which no tracer may start. */
  readyAt: number
  /** The state of each cooldown `Schedule` in use. */
  readonly schedules: WeakMap<object, unknown>
}

/**
 * One per process, shared by every Tracer, whatever copy of this library
 * loaded it. Not Effect's `Semaphore`: it wakes every waiter on each release,
 * O(N²) for N waiters (ARCHITECTURE.md, pitfall 13); this hands the permit
 * to exactly one waiter, in FIFO order.
 */
const state: LockState = globalValue(Symbol.for("effect-bcd/internal/lock/fifo"), () => ({
  held: false,
  queue: [],
  head: 0,
  readyAt: 0,
  schedules: new WeakMap<object, unknown>()
}))

/** When the current cooldown ends (epoch millis). */
export const readyAt = (): number => state.readyAt

/** Hands the permit to the oldest waiter still waiting, or frees it. */
const release = (): void => {
  while (state.head < state.queue.length) {
    const next = state.queue[state.head]!
    state.queue[state.head++] = undefined as unknown as Waiter
    if (next.status === "cancelled") continue
    next.status = "granted"
    compact()
    Deferred.unsafeDone(next.granted, Effect.void)
    return
  }
  compact()
  state.held = false
}

/** Drops the consumed front of the queue once it is half the array. */
const compact = () => {
  if (state.head > 1024 && state.head * 2 > state.queue.length) {
    state.queue.splice(0, state.head)
    state.head = 0
  } else if (state.head === state.queue.length) {
    state.queue.length = 0
    state.head = 0
  }
}

/**
 * Takes the permit, waiting in line for it. Interrupted while waiting, the
 * trace leaves the line; interrupted just as the permit was handed to it, it
 * hands it on. Either way no permit leaks.
 */
const acquire: Effect.Effect<void> = Effect.uninterruptibleMask((restore) =>
  Effect.suspend(() => {
    if (!state.held) {
      state.held = true
      return Effect.void
    }
    const waiter: Waiter = { granted: Deferred.unsafeMake<void>(FiberId.none), status: "waiting" }
    state.queue.push(waiter)
    return restore(Deferred.await(waiter.granted)).pipe(
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          // Granted before the interruption landed: pass the permit on.
          if (waiter.status === "granted") return release()
          waiter.status = "cancelled"
        })
      )
    )
  })
)

/** Runs `self` holding the permit, released however it ends. */
const withHeldPermit = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.zipRight(restore(acquire), Effect.ensuring(restore(self), Effect.sync(release)))
  )

/** When the cooldown that starts at `now` ends, stepping its `Schedule`. */
export const cooldownEnd = (schedule: Schedule.Schedule<unknown, unknown>, now: number): Effect.Effect<number> => {
  const previous = state.schedules.has(schedule) ? state.schedules.get(schedule) : schedule.initial
  return Effect.map(schedule.step(now, undefined, previous), ([next, , decision]) => {
    if (ScheduleDecision.isDone(decision)) {
      // A finished schedule starts over: no cooldown this time.
      state.schedules.delete(schedule)
      return now
    }
    state.schedules.set(schedule, next)
    return Math.max(now, Intervals.start(decision.intervals))
  })
}

const awaitCooldown = Effect.flatMap(
  Clock.currentTimeMillis,
  (now) => state.readyAt > now ? Effect.sleep(Duration.millis(state.readyAt - now)) : Effect.void
)

const startCooldown = (rateLimit: Schedule.Schedule<unknown, unknown>) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => cooldownEnd(rateLimit, now)).pipe(
    Effect.map((readyAt) => {
      state.readyAt = readyAt
    })
  )

/**
 * Runs `onLocked` once the process-wide permit is held and the previous
 * cooldown has passed, then starts the next cooldown however it ends.
 * `onLocked` runs only if the wait completes; a trace interrupted while it
 * waits leaks no permit and starts no cooldown.
 */
export const withLock = <A, E, R>(
  rateLimit: Schedule.Schedule<unknown, unknown>,
  onLocked: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  withHeldPermit(Effect.zipRight(awaitCooldown, Effect.ensuring(onLocked, startCooldown(rateLimit))))

/** Runs `self` while no tracer of this process runs (the permit, without waiting out or starting a cooldown). */
export const withPermit = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => withHeldPermit(self)
