/**
 * Hang snapshots (`Tracer.watchEventLoop`) against real child Node programs
 * whose main thread blocks, traced by real eu-stack through the supervisor:
 * a synchronous busy loop (with `--perf-basic-prof`, so the busy JS
 * function is named) and a blocking native call (`Atomics.wait`). Also the
 * shared lock word, from the main thread's side.
 */
import * as Command from "@effect/platform/Command"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Lock from "../src/internal/core/lock.js"
import { END_LINE, FOLLOWS } from "../src/internal/eustack/finalize.js"
import { REPORT_TITLE } from "../src/internal/snapshot/header.js"
import * as TraceOptions from "../src/TraceOptions.js"
import * as Tracer from "../src/Tracer.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { fixture } from "./support/child.js"
import { noCooldown } from "./support/config.js"
import { tempDir } from "./support/temp.js"

interface Setup {
  readonly mode: "busy" | "atomics"
  readonly episodes: number
  readonly rateLimit?: number
  readonly nodeArgs?: ReadonlyArray<string>
  /** Runs once the child has printed `{ blocked: 0 }` (the first episode is over). */
  readonly afterFirst?: (pid: number) => Effect.Effect<void>
}

/** The supervisor of `pid`: its child whose title (`/proc/<n>/cmdline`) is `effect-bcd-supervisor`. */
const supervisorsOf = (pid: number) =>
  fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name)).filter((name) => {
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "latin1")
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      return ppid === pid && fs.readFileSync(`/proc/${name}/cmdline`, "utf8").startsWith("effect-bcd-supervisor")
    } catch {
      return false
    }
  }).map(Number)

const stateOf = (pid: number) => {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
    return text.slice(text.lastIndexOf(")") + 2).split(" ")[0]
  } catch {
    return undefined
  }
}

/**
 * Runs the hang fixture to its end; returns the snapshots' texts and its log.
 * The child is SIGKILLed by pid if it outlives the test; it must exit by itself,
 * never left stopped, and its supervisor must follow it.
 */
const runHang = (setup: Setup) =>
  Effect.gen(function*() {
    const scratch = yield* tempDir
    const dir = path.join(scratch, "out")
    const child = yield* fixture("hang", {
      dir,
      mode: setup.mode,
      thresholdMs: 300,
      blockMs: 2500,
      episodes: setup.episodes,
      ...(setup.rateLimit === undefined ? {} : { rateLimit: setup.rateLimit })
    }, { cwd: scratch, nodeArgs: setup.nodeArgs ?? [] })
    const pid = child.process.pid!
    yield* child.line((l) => l.ready === true)
    // watchEventLoop started the child's supervisor; it must not outlive the child.
    const supervisors = supervisorsOf(pid)
    expect(supervisors).toHaveLength(1)
    const restarted: Array<number> = []
    if (setup.afterFirst !== undefined) {
      yield* child.line((l) => l.blocked === 0)
      yield* setup.afterFirst(pid)
    }
    const seen = new Set<string>()
    // Sampled while it runs: the child is never seen stopped for long (eu-stack stops one thread at a time).
    const sampler = yield* Effect.fork(Effect.forever(Effect.zipRight(
      Effect.sync(() => {
        const s = stateOf(pid)
        if (s !== undefined) seen.add(s)
      }),
      Effect.sleep("20 millis")
    )))
    const done = yield* child.line((l) => Array.isArray(l.snapshots))
    restarted.push(...supervisorsOf(pid).filter((p) => !supervisors.includes(p)))
    yield* Fiber.interrupt(sampler)
    const exit = yield* child.exit
    expect(exit).toEqual({ code: 0, signal: null })
    expect(stateOf(pid)).toBeUndefined()
    // The supervisors notice their host is gone and exit (they poll every 200 ms).
    const all = [...supervisors, ...restarted]
    yield* Effect.sleep("1 second")
    // Gone, or a zombie left for init to reap (a killed one): none still running or stopped.
    expect(all.map(stateOf).filter((s) => s !== undefined && s !== "Z")).toEqual([])
    const names = done.snapshots as Array<string>
    return {
      seen,
      log: child.stdout() + child.stderr(),
      texts: names.map((name) => {
        const file = path.join(dir, name)
        expect(fs.statSync(file).mode & 0o777).toBe(0o600)
        return fs.readFileSync(file, "utf8")
      })
    }
  })

/** The main thread's block of an eu-stack snapshot. */
const mainThread = (text: string) => {
  const output = text.slice(text.indexOf(FOLLOWS))
  const start = output.search(/^TID \d+: \[main thread, faulted\]$/m)
  expect(start).toBeGreaterThan(0)
  const rest = output.slice(start)
  const next = rest.slice(1).search(/^TID \d+:/m)
  return next < 0 ? rest : rest.slice(0, next + 1)
}

const expectHangHeader = (text: string) => {
  expect(text).toMatch(/^effect-bcd snapshot \(eu-stack\)\n/)
  expect(text).toMatch(/^classifiers: +EventLoopBlocked$/m)
  expect(text).toMatch(/^error: +The event loop has been blocked for 300 ms or more$/m)
  const blocked = /^ {2}event_loop\.blocked_ms: (\d+) *$/m.exec(text)
  expect(blocked).not.toBeNull()
  // Taken once the heartbeat had stopped for the threshold, well before the 2.5 s block ended.
  expect(Number(blocked![1])).toBeGreaterThanOrEqual(300)
  expect(Number(blocked![1])).toBeLessThan(2500)
  expect(text).toMatch(/^ {2}event_loop\.blocked_since: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/m)
  expect(text).toMatch(/^ {2}event_loop\.threshold_ms: 300$/m)
  expect(text).not.toContain("<blocked-")
  // No Node report: one taken when the snapshot was armed would show the process before the hang.
  expect(text).not.toContain(`${REPORT_TITLE}:`)
  expect(text).toContain(END_LINE)
}

describe("Tracer.watchEventLoop (real children blocked, real eu-stack)", () => {
  it.live("a synchronous busy loop: one snapshot naming the busy JS function on the faulted main thread", () =>
    Effect.scoped(Effect.gen(function*() {
      const { seen, texts } = yield* runHang({ mode: "busy", episodes: 1, nodeArgs: ["--perf-basic-prof"] })
      expect(texts).toHaveLength(1)
      expectHangHeader(texts[0]!)
      expect(mainThread(texts[0]!)).toMatch(/JS:\*?hangBusySpin /)
      expect(seen.has("T")).toBe(false)
    })))

  it.live("a blocking native call (Atomics.wait): one snapshot per blocked episode, the wait on the main thread", () =>
    Effect.scoped(Effect.gen(function*() {
      const { texts } = yield* runHang({ mode: "atomics", episodes: 2 })
      expect(texts).toHaveLength(2)
      for (const text of texts) {
        expectHangHeader(text)
        expect(mainThread(text)).toMatch(/Builtin_AtomicsWait|FutexEmulation/)
      }
    })))

  it.live("the cooldown applies to the watcher: a second episode inside it gets no snapshot, and says so", () =>
    Effect.scoped(Effect.gen(function*() {
      // A 60 s cooldown outlasts the 30 s deadline: the second episode is refused at once.
      const { log, texts } = yield* runHang({ mode: "atomics", episodes: 2, rateLimit: 60_000 })
      expect(texts).toHaveLength(1)
      expect(log).toContain("no snapshot: the cooldown outlasts the deadline")
      expect(log.match(/The event loop was blocked for \d+ ms or more; snapshot \S+\.txt/g)).toHaveLength(1)
    })))
})

describe("Tracer.watchEventLoop and a supervisor that died", () => {
  it.live("a hang after the supervisor was killed still gets its snapshot (the watcher reconnects when re-armed)", () =>
    Effect.scoped(Effect.gen(function*() {
      let killedAt = 0
      const { log, texts } = yield* runHang({
        mode: "atomics",
        episodes: 3,
        // The child's supervisor, killed between two episodes (a process of the child we started, by pid).
        afterFirst: (pid) =>
          Effect.gen(function*() {
            yield* Effect.sleep("400 millis")
            const supervisors = supervisorsOf(pid)
            expect(supervisors).toHaveLength(1)
            process.kill(supervisors[0]!, "SIGKILL")
            killedAt = Date.now()
          })
      })
      // An episode whose run found the supervisor gone leaves its header (as any failed trace does) and a log line.
      const complete = texts.filter((t) => t.includes(END_LINE))
      const failed = texts.filter((t) => !t.includes(END_LINE))
      expect(complete.length).toBeGreaterThanOrEqual(2)
      for (const text of complete) expectHangHeader(text)
      for (const text of failed) expect(text).not.toMatch(/^TID \d+:/m)
      if (failed.length > 0) expect(log).toContain("Hang snapshot failed")
      const since = complete.map((t) => Date.parse(/^ {2}event_loop\.blocked_since: (\S+)$/m.exec(t)![1]!))
      expect(Math.max(...since)).toBeGreaterThan(killedAt)
    })))
})

/** A tracer that only prints: for what is decided before any tracer runs. */
const echo = Tracer.layer({
  name: "echo",
  program: "echo",
  defaultTraceOptions: TraceOptions.defaults,
  command: () => Command.make("echo", "traced")
})

describe("Tracer.watchEventLoop refuses what it cannot serve", () => {
  const refusal = (config: Layer.Layer<never>, options: Tracer.WatchEventLoopOptions) =>
    Tracer.watchEventLoop(options).pipe(Effect.scoped, Effect.flip, Effect.provide(Layer.merge(echo, config)))

  it.live("the inline runner (it runs on the blocked thread), a zero threshold, a second watcher", () =>
    Effect.gen(function*() {
      const inline = yield* refusal(TracerConfig.layer({ runner: "inline" }), { threshold: "1 second" })
      expect(inline).toMatchObject({ _tag: "TracerConfigError", field: "runner" })
      const zero = yield* refusal(noCooldown, { threshold: 0 })
      expect(zero).toMatchObject({ _tag: "TracerConfigError", field: "threshold" })
      const second = yield* Effect.scoped(Effect.gen(function*() {
        yield* Tracer.watchEventLoop({ threshold: "10 seconds" })
        return yield* Effect.flip(Effect.scoped(Tracer.watchEventLoop({ threshold: "10 seconds" })))
      })).pipe(Effect.provide(Layer.merge(echo, noCooldown)))
      expect(second).toMatchObject({ _tag: "TracerConfigError", field: "watchEventLoop" })
      // The first watcher's scope has closed: watching again is allowed.
      yield* Effect.scoped(Tracer.watchEventLoop({ threshold: "10 seconds" })).pipe(
        Effect.provide(Layer.merge(echo, noCooldown))
      )
    }))
})

describe("the shared lock word", () => {
  it.live("a trace of this thread waits while the watcher holds the word, and runs once it is released", () =>
    Effect.gen(function*() {
      const { owner } = Lock.shared()
      // What the watcher does when it takes the lock.
      expect(Atomics.compareExchange(owner, 0, Lock.OWNER.free, Lock.OWNER.watcher)).toBe(Lock.OWNER.free)
      const trace = yield* Effect.fork(Tracer.trace(new Error("waits")))
      yield* Effect.sleep("500 millis")
      expect(trace.unsafePoll()).toBeNull()
      Atomics.store(owner, 0, Lock.OWNER.free)
      Atomics.notify(owner, 0)
      const result = yield* Fiber.join(trace)
      expect(result.stdout.trim()).toBe("traced")
      expect(Atomics.load(owner, 0)).toBe(Lock.OWNER.free)
    }).pipe(Effect.provide(Layer.merge(echo, noCooldown))))

  it.live("a trace interrupted while waiting for the word leaves it to its holder", () =>
    Effect.gen(function*() {
      const { owner } = Lock.shared()
      Atomics.store(owner, 0, Lock.OWNER.watcher)
      const trace = yield* Effect.fork(Tracer.trace(new Error("interrupted")))
      yield* Effect.sleep("200 millis")
      yield* Fiber.interrupt(trace)
      expect(Atomics.load(owner, 0)).toBe(Lock.OWNER.watcher)
      Atomics.store(owner, 0, Lock.OWNER.free)
      Atomics.notify(owner, 0)
      // The permit of this thread was given back: the next trace runs.
      const result = yield* Tracer.trace(new Error("next"))
      expect(result.stdout.trim()).toBe("traced")
    }).pipe(Effect.provide(Layer.merge(echo, noCooldown))))
})
