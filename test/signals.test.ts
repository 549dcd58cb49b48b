import * as Command from "@effect/platform/Command"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as path from "node:path"
import { TraceOptions, Tracer } from "../src/index.js"
import { fixture, markerLines, readMarker } from "./support/child.js"
import { tempDir } from "./support/temp.js"

const COUNT = ["SIGABRT", "SIGUSR2", "SIGTERM"] as const

describe("Tracer.register", () => {
  // The message is Go's os.Signal.String() for the signal.
  for (
    const [signal, signals, text] of [
      ["SIGABRT", undefined, "aborted"],
      ["SIGSEGV", undefined, "segmentation fault"],
      ["SIGTERM", ["SIGTERM"], "terminated"]
    ] as const
  ) {
    // The custom set goes through Tracer.registerLayer.
    it.live(`${signal} (${signals ? "custom set, registerLayer" : "default set"}): traces a SignalError, then the child dies of ${signal}`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const marker = path.join(dir, "marker")
        const child = yield* fixture("signals", {
          marker,
          resend: true,
          count: COUNT,
          ...(signals ? { signals, layer: true } : {})
        }, {
          cwd: dir
        })
        yield* child.line((l) => l.ready === true)
        process.kill(child.process.pid!, signal)
        const exit = yield* child.exit
        expect(exit).toEqual({ code: null, signal })
        expect(readMarker(marker)).toEqual([{ pid: child.process.pid, error: text, classifiers: ["SignalError"] }])
      }).pipe(Effect.scoped))
  }

  it.live("a signal's trace names the signal and carries no library frames as its stack", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const marker = path.join(dir, "marker")
      const child = yield* fixture("signals", {
        marker,
        resend: false,
        signals: ["SIGUSR2"],
        count: COUNT,
        details: true
      }, {
        cwd: dir
      })
      yield* child.line((l) => l.ready === true)
      process.kill(child.process.pid!, "SIGUSR2")
      const [line] = yield* markerLines(marker, 1)
      child.process.stdin!.end()
      expect(yield* child.exit).toEqual({ code: 0, signal: null })
      expect(line!.attributes).toMatchObject({ signal: "SIGUSR2" })
      const stack = line!.stack as string
      expect(stack).toContain("a signal has no JS stack")
      expect(stack).not.toMatch(/^\s+at /m)
    }).pipe(Effect.scoped))

  it.live("resendSignal false (custom set SIGUSR2): traces each signal and the child keeps running", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const marker = path.join(dir, "marker")
      const child = yield* fixture("signals", { marker, resend: false, signals: ["SIGUSR2"], count: COUNT }, {
        cwd: dir
      })
      const ready = yield* child.line((l) => l.ready === true)
      expect(ready.during).toEqual({ SIGABRT: 0, SIGUSR2: 1, SIGTERM: 0 })
      process.kill(child.process.pid!, "SIGUSR2")
      yield* markerLines(marker, 1)
      expect(child.alive()).toBe(true)
      process.kill(child.process.pid!, "SIGUSR2")
      const lines = yield* markerLines(marker, 2)
      expect(lines.map((l) => l.error)).toEqual(["user defined signal 2", "user defined signal 2"])
      expect(child.alive()).toBe(true)
      child.process.stdin!.end()
      expect(yield* child.exit).toEqual({ code: 0, signal: null })
      expect(readMarker(marker)).toHaveLength(2)
    }).pipe(Effect.scoped))

  it.live("a real fault (a native NULL dereference) still crashes the process at once, the default set registered", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const marker = path.join(dir, "marker")
      const child = yield* fixture("signals", { marker, resend: true, fault: true, count: COUNT }, { cwd: dir })
      const ready = yield* child.line((l) => l.ready === true)
      expect(ready.during).toEqual({ SIGABRT: 1, SIGUSR2: 0, SIGTERM: 0 })
      // Without a one-shot handler the fault repeats for ever, at 100% CPU.
      const exit = yield* child.exit.pipe(
        Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => "hung" as const })
      )
      expect(exit).toEqual({ code: null, signal: "SIGSEGV" })
      // No JS runs after a real fault: nothing is traced.
      expect(readMarker(marker)).toEqual([])
    }).pipe(Effect.scoped))

  it.live("SIGSEGV sent with kill, resendSignal false: traced each time, the child keeps running", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const marker = path.join(dir, "marker")
      const child = yield* fixture("signals", { marker, resend: false, signals: ["SIGSEGV"], count: COUNT }, {
        cwd: dir
      })
      yield* child.line((l) => l.ready === true)
      process.kill(child.process.pid!, "SIGSEGV")
      yield* markerLines(marker, 1)
      process.kill(child.process.pid!, "SIGSEGV")
      yield* markerLines(marker, 2)
      expect(child.alive()).toBe(true)
      child.process.stdin!.end()
      expect(yield* child.exit).toEqual({ code: 0, signal: null })
      expect(readMarker(marker).map((l) => l.error)).toEqual(["segmentation fault", "segmentation fault"])
    }).pipe(Effect.scoped))

  it.live("two registrations trace once; closing removes exactly our listeners (backend's set)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const marker = path.join(dir, "marker")
      const child = yield* fixture("signals", {
        marker,
        resend: false,
        backendSignals: ["SIGUSR2", "SIGTERM"],
        registrations: 2,
        foreign: "SIGUSR2",
        count: COUNT
      }, { cwd: dir })
      const ready = yield* child.line((l) => l.ready === true)
      expect(ready.before).toEqual({ SIGABRT: 0, SIGUSR2: 1, SIGTERM: 0 })
      expect(ready.during).toEqual({ SIGABRT: 0, SIGUSR2: 2, SIGTERM: 1 })
      process.kill(child.process.pid!, "SIGUSR2")
      yield* child.line((l) => l.foreign === "SIGUSR2")
      yield* markerLines(marker, 1)
      child.process.stdin!.end()
      const closed = yield* child.line((l) => l.closed === true)
      expect(closed.after).toEqual({ SIGABRT: 0, SIGUSR2: 1, SIGTERM: 0 })
      expect(yield* child.exit).toEqual({ code: 0, signal: null })
      // Closing waits for traces in flight: a second trace would be in the file by now.
      expect(readMarker(marker)).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("resendSignal with a listener of the program's own: no re-raise, the program handles it, the next is traced too", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const marker = path.join(dir, "marker")
      const child = yield* fixture("signals", {
        marker,
        resend: true,
        signals: ["SIGUSR2"],
        foreign: "SIGUSR2",
        count: COUNT
      }, { cwd: dir })
      yield* child.line((l) => l.ready === true)
      process.kill(child.process.pid!, "SIGUSR2")
      yield* child.line((l) => l.foreign === "SIGUSR2")
      yield* markerLines(marker, 1)
      // Nothing was re-sent and our listener stayed: a second signal is traced as well.
      process.kill(child.process.pid!, "SIGUSR2")
      yield* markerLines(marker, 2)
      expect(child.alive()).toBe(true)
      child.process.stdin!.end()
      const closed = yield* child.line((l) => l.closed === true)
      expect(child.lines.filter((l) => l.foreign === "SIGUSR2")).toHaveLength(2)
      // Closing removed ours; the program's stays.
      expect(closed.after).toEqual({ SIGABRT: 0, SIGUSR2: 1, SIGTERM: 0 })
      expect(yield* child.exit).toEqual({ code: 0, signal: null })
    }).pipe(Effect.scoped))

  it.live("the listeners do not keep a finished program alive", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const child = yield* fixture("signals", {
        marker: path.join(dir, "marker"),
        resend: true,
        hold: "forever",
        count: COUNT
      }, { cwd: dir })
      const ready = yield* child.line((l) => l.ready === true)
      expect(ready.during).toEqual({ SIGABRT: 1, SIGUSR2: 0, SIGTERM: 0 })
      // Node ends a program with nothing left to do even though it listens to signals.
      expect(yield* child.exit).toEqual({ code: 0, signal: null })
    }).pipe(Effect.scoped))

  const backend = (signals?: ReadonlyArray<NodeJS.Signals>) => ({
    name: "never-run",
    program: "false",
    defaultTraceOptions: TraceOptions.defaults,
    command: () => Command.make("false"),
    ...(signals ? { signals } : {})
  })

  for (
    const [label, given, backendSet, reason] of [
      ["an empty set", [], undefined, /empty/],
      ["an empty backend set", undefined, [], /empty/],
      ["SIGKILL", ["SIGABRT", "SIGKILL"], undefined, /SIGKILL cannot be caught/],
      ["SIGSTOP", ["SIGSTOP"], undefined, /SIGSTOP cannot be caught/],
      ["SIGUSR1", ["SIGUSR1"], undefined, /SIGUSR1 is reserved by Node.js for its inspector/],
      ["an unknown signal", ["SIGNOPE"], undefined, /unknown signal "SIGNOPE"/]
    ] as const
  ) {
    it.effect(`refuses ${label} with TracerConfigError and installs nothing`, () =>
      Effect.gen(function*() {
        const before = ["SIGABRT", "SIGKILL", "SIGSTOP", "SIGUSR1"].map((s) => process.listenerCount(s))
        const exit = yield* Effect.exit(
          Effect.scoped(Tracer.register(given as ReadonlyArray<NodeJS.Signals> | undefined))
        ).pipe(Effect.provide(Tracer.layer(backend(backendSet as ReadonlyArray<NodeJS.Signals> | undefined))))
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
          expect(exit.cause.error._tag).toBe("TracerConfigError")
          expect(exit.cause.error.field).toBe("signals")
          expect(exit.cause.error.message).toMatch(reason)
        } else expect.fail(`expected a TracerConfigError, got ${String(exit)}`)
        expect(["SIGABRT", "SIGKILL", "SIGSTOP", "SIGUSR1"].map((s) => process.listenerCount(s))).toEqual(before)
      }))
  }
})
