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
  /** A tracer of this isolate holds (or is taking) the permit. */
  held: boolean
  /** Waiting traces, oldest first, from `head` on (a FIFO without O(n) shifts). */
  readonly queue: Array<Waiter>
  head: number
  /** The state of each cooldown `Schedule` in use. */
  readonly schedules: WeakMap<object, unknown>
  /** The part other threads see (`Shared`); added by this version, hence optional. */
  shared?: Shared
}

/**
 * The lock word and the cooldown stamp in shared memory, so that the event
 * loop watcher (a `worker_threads` Worker, `hang/watcher.mjs`) honours the
 * same lock and cooldown while this thread is blocked and runs no code.
 * `owner`: 0 free, 1 a tracer of this thread, 2 the watcher; taken with a
 * compare-and-swap, released with a store and a notify. `readyAt`: epoch
 * millis before which no tracer may start (ARCHITECTURE.md, "Hang snapshots").
 */
export interface Shared {
  readonly buffer: SharedArrayBuffer
  readonly owner: Int32Array
  readonly readyAt: Float64Array
}

/** The owner values of the shared lock word. */
export const OWNER = { free: 0, thread: 1, watcher: 2 } as const

/** Views of a lock buffer (16 bytes: the Int32 owner word, then the Float64 stamp at byte 8). */
const sharedViews = (buffer: SharedArrayBuffer): Shared => ({
  buffer,
  owner: new Int32Array(buffer, 0, 1),
  readyAt: new Float64Array(buffer, 8, 1)
})

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
  schedules: new WeakMap<object, unknown>()
}))

/** The shared lock word and cooldown stamp (created on first use). */
export const shared = (): Shared => (state.shared ??= sharedViews(new SharedArrayBuffer(16)))

/** When the current cooldown ends (epoch millis). */
export const readyAt = (): number => shared().readyAt[0]!

const setReadyAt = (value: number) => {
  shared().readyAt[0] = value
}

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

/** `Atomics.waitAsync` (Node 16+; not in the ES2022 lib's types). */
const waitAsync = (Atomics as unknown as {
  waitAsync: (array: Int32Array, index: number, value: number) => { async: boolean; value: Promise<unknown> | string }
}).waitAsync

/** Restores interruptibility around what it is given (`uninterruptibleMask`'s `restore`). */
type Restore = <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

/**
 * Takes the shared lock word for this thread, waiting (without blocking the
 * event loop) while the watcher holds it. Only the holder of this isolate's
 * permit calls it, so this thread competes with the watcher alone. Run
 * uninterruptibly: only the waits are `restore`d, so an interruption never
 * lands between a successful compare-and-swap and its release being installed.
 */
const takeShared = (restore: Restore): Effect.Effect<void> =>
  Effect.suspend(function loop(): Effect.Effect<void> {
    const { owner } = shared()
    const current = Atomics.compareExchange(owner, 0, OWNER.free, OWNER.thread)
    if (current === OWNER.free) return Effect.void
    const waited = waitAsync(owner, 0, current)
    return Effect.flatMap(
      waited.async ? restore(Effect.promise(() => waited.value as Promise<unknown>)) : Effect.void,
      () => Effect.suspend(loop)
    )
  })

const releaseShared = () => {
  const { owner } = shared()
  Atomics.store(owner, 0, OWNER.free)
  Atomics.notify(owner, 0)
}

/** Frees the shared word if the watcher holds it (a watcher that was terminated while it held it). */
export const freeIfWatcher = (): void => {
  const { owner } = shared()
  if (Atomics.compareExchange(owner, 0, OWNER.watcher, OWNER.free) === OWNER.watcher) Atomics.notify(owner, 0)
}

/** Runs `self` holding this isolate's permit, released however it ends. */
const withHeldPermit = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.zipRight(restore(acquire), Effect.ensuring(restore(self), Effect.sync(release)))
  )

/** Runs `self` holding the shared word, taken by `take`; released however it ends. */
const withShared = <A, E, R>(
  take: (restore: Restore) => Effect.Effect<void>,
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.zipRight(take(restore), Effect.ensuring(restore(self), Effect.sync(releaseShared)))
  )

/** `schedule`'s step at `now` from its state (its initial state the first time). */
const step = (schedule: Schedule.Schedule<unknown, unknown>, now: number) =>
  schedule.step(now, undefined, state.schedules.has(schedule) ? state.schedules.get(schedule) : schedule.initial)

/** When the cooldown that starts at `now` ends, stepping its `Schedule`. */
export const cooldownEnd = (schedule: Schedule.Schedule<unknown, unknown>, now: number): Effect.Effect<number> =>
  Effect.map(step(schedule, now), ([next, , decision]) => {
    if (ScheduleDecision.isDone(decision)) {
      // A finished schedule starts over: no cooldown this time.
      state.schedules.delete(schedule)
      return now
    }
    state.schedules.set(schedule, next)
    return Math.max(now, Intervals.start(decision.intervals))
  })

/**
 * How long the cooldown that starts at `now` would last, without stepping
 * its `Schedule` (the watcher's own trace applies it; {@link cooldownAfter}
 * steps it once this thread runs again).
 */
export const peekCooldown = (schedule: Schedule.Schedule<unknown, unknown>, now: number): Effect.Effect<number> =>
  Effect.map(
    step(schedule, now),
    ([, , decision]) => ScheduleDecision.isDone(decision) ? 0 : Math.max(0, Intervals.start(decision.intervals) - now)
  )

/** Starts the cooldown of a trace that ended at `endedAt` (a watcher's), never shortening the current one. */
export const cooldownAfter = (rateLimit: Schedule.Schedule<unknown, unknown>, endedAt: number): Effect.Effect<void> =>
  Effect.map(cooldownEnd(rateLimit, endedAt), (end) => setReadyAt(Math.max(readyAt(), end)))

const awaitCooldown = Effect.flatMap(
  Clock.currentTimeMillis,
  (now) => readyAt() > now ? Effect.sleep(Duration.millis(readyAt() - now)) : Effect.void
)

/**
 * Waits out the cooldown, then takes the shared word; if the watcher traced
 * meanwhile (its cooldown moved `readyAt`), gives the word back and waits
 * again. The word is never held while waiting, so a watcher is not kept from
 * tracing by a trace whose timer cannot fire while this thread is blocked.
 */
const cooldownThenShared = (restore: Restore): Effect.Effect<void> =>
  Effect.suspend(function loop(): Effect.Effect<void> {
    return Effect.zipRight(
      restore(awaitCooldown),
      Effect.flatMap(takeShared(restore), () =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (readyAt() <= now) return Effect.void
          releaseShared()
          return Effect.suspend(loop)
        }))
    )
  })

const startCooldown = (rateLimit: Schedule.Schedule<unknown, unknown>) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => cooldownEnd(rateLimit, now)).pipe(
    Effect.map(setReadyAt)
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
  withHeldPermit(withShared(cooldownThenShared, Effect.ensuring(onLocked, startCooldown(rateLimit))))

/** Runs `self` while no tracer of this process runs (the permit, without waiting out or starting a cooldown). */
export const withPermit = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  withHeldPermit(withShared(takeShared, self))
