import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { rejectionsMode } from "../src/internal/os/uncaught.js"
import { fixture, readMarker } from "./support/child.js"
import { tempDir } from "./support/temp.js"

/**
 * Node's report of an uncaught error without its first block (the source line
 * and caret of the `throw`, which for the traced program is the library's
 * re-throw).
 */
const withoutArrow = (stderr: string): string => {
  const lines = stderr.split("\n")
  const caret = lines.findIndex((l) => /^\s*\^+\s*$/.test(l))
  return lines.slice(caret + 1).join("\n").trimStart()
}

/**
 * `stderr` without Node's own internal frames (`at … (node:internal/…)`):
 * which of them report a rejection depends on whether Node drained it from a
 * timer or from the tick queue, which varies from run to run, traced or not.
 */
const withoutNodeInternals = (stderr: string): string =>
  stderr.split("\n").filter((line) => !/^\s+at .*\(?node:internal\//.test(line)).join("\n")

const run = (setup: object, nodeArgs: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const marker = path.join(dir, "marker")
    const child = yield* fixture("uncaught", { marker, ...setup }, { cwd: dir, nodeArgs })
    const ready = yield* child.line((l) => l.ready === true)
    const exit = yield* child.exit
    return { child, ready, exit, marker, traces: readMarker(marker) }
  })

describe("Tracer.handleUncaught", () => {
  for (
    const [kind, classifier] of [
      ["exception", "Error"],
      ["rejection", "Error"],
      ["rejection-string", "string"]
    ] as const
  ) {
    it.live(`${kind}: one trace, then Node's own message and exit code 1`, () =>
      Effect.gen(function*() {
        const [traced, control] = yield* Effect.all([run({ kind, traced: true }), run({ kind, traced: false })], {
          concurrency: 2
        })
        expect(control.exit).toEqual({ code: 1, signal: null })
        expect(control.traces).toEqual([])
        expect(traced.ready.listeners).toBe(1)
        expect(traced.traces).toEqual([{ pid: traced.child.process.pid, error: "boom", classifiers: [classifier] }])
        expect(traced.exit).toEqual({ code: 1, signal: null })
        // A replayed rejection is Node's own report, to the letter; a re-thrown exception differs in its first block.
        if (kind === "exception") expect(withoutArrow(traced.child.stderr())).toBe(withoutArrow(control.child.stderr()))
        else expect(withoutNodeInternals(traced.child.stderr())).toBe(withoutNodeInternals(control.child.stderr()))
        expect(withoutArrow(traced.child.stderr())).toMatch(
          kind === "rejection-string" ? /^UnhandledPromiseRejection: / : /^Error: boom\n/
        )
      }).pipe(Effect.scoped))
  }

  for (const kind of ["exception", "rejection"] as const) {
    it.live(`an uncaught ${kind}'s trace says so (uncaught: ${kind})`, () =>
      Effect.gen(function*() {
        const traced = yield* run({ kind, traced: true, details: true })
        expect(traced.exit).toEqual({ code: 1, signal: null })
        expect(traced.traces).toHaveLength(1)
        expect(traced.traces[0]!.attributes).toMatchObject({ uncaught: kind })
      }).pipe(Effect.scoped))
  }

  it.live("--unhandled-rejections=strict: one trace (not one per event Node emits), Node's message, exit code 1", () =>
    Effect.gen(function*() {
      const [traced, control] = yield* Effect.all([
        run({ kind: "rejection", traced: true }, ["--unhandled-rejections=strict"]),
        run({ kind: "rejection", traced: false }, ["--unhandled-rejections=strict"])
      ], { concurrency: 2 })
      expect(traced.traces.map((t) => t.error)).toEqual(["boom"])
      expect(traced.exit).toEqual({ code: 1, signal: null })
      expect(control.exit).toEqual({ code: 1, signal: null })
      expect(withoutArrow(traced.child.stderr())).toBe(withoutArrow(control.child.stderr()))
    }).pipe(Effect.scoped))

  it("reads the --unhandled-rejections mode from the command line, else NODE_OPTIONS", () => {
    expect(rejectionsMode([], "")).toBe("throw")
    expect(rejectionsMode(["--unhandled-rejections=warn"], "")).toBe("warn")
    expect(rejectionsMode(["--unhandled-rejections", "strict"], "--unhandled-rejections=warn")).toBe("strict")
    expect(rejectionsMode(["--import", "tsx"], "--max-old-space-size=64  --unhandled-rejections=none")).toBe("none")
  })

  it.live("--unhandled-rejections=warn: Node warns and goes on, and the next rejection is traced too", () =>
    Effect.gen(function*() {
      const setup = { kind: "rejection", againMs: 1200 }
      const [traced, control] = yield* Effect.all([
        run({ ...setup, traced: true }, ["--unhandled-rejections=warn"]),
        run({ ...setup, traced: false }, ["--unhandled-rejections=warn"])
      ], { concurrency: 2 })
      expect(control.exit).toEqual({ code: 0, signal: null })
      expect(traced.exit).toEqual({ code: 0, signal: null })
      expect(traced.traces.map((t) => t.error)).toEqual(["boom", "boom"])
      const warnings = (stderr: string) => stderr.match(/UnhandledPromiseRejectionWarning: Error: boom/g)?.length ?? 0
      expect(warnings(control.child.stderr())).toBe(2)
      expect(warnings(traced.child.stderr())).toBe(2)
    }).pipe(Effect.scoped))

  it.live("with a listener of the program's own: traces, and the program carries on", () =>
    Effect.gen(function*() {
      const { child, exit, traces } = yield* run({ kind: "exception", traced: true, foreign: true })
      expect(traces.map((t) => t.error)).toEqual(["boom"])
      expect(child.lines.some((l) => l.foreign === "uncaughtException")).toBe(true)
      expect(child.lines.some((l) => l.alive === true)).toBe(true)
      expect(exit).toEqual({ code: 0, signal: null })
      expect(child.stderr()).toBe("")
    }).pipe(Effect.scoped))

  for (const mode of ["throw", "strict"] as const) {
    it.live(`rejection (${mode} mode) with the program's own uncaughtException listener: one trace, the listener runs once, the program carries on`, () =>
      Effect.gen(function*() {
        const setup = { kind: "rejection", foreign: true, foreignEvent: "uncaughtException" }
        const nodeArgs = [`--unhandled-rejections=${mode}`]
        const [traced, control] = yield* Effect.all([
          run({ ...setup, traced: true }, nodeArgs),
          run({ ...setup, traced: false }, nodeArgs)
        ], { concurrency: 2 })
        const foreign = (child: typeof traced.child) => child.lines.filter((l) => l.foreign === "uncaughtException")
        expect(foreign(control.child)).toHaveLength(1)
        expect(control.exit).toEqual({ code: 0, signal: null })
        expect(traced.traces.map((t) => t.error)).toEqual(["boom"])
        expect(foreign(traced.child)).toHaveLength(1)
        expect(traced.child.lines.some((l) => l.alive === true)).toBe(true)
        expect(traced.exit).toEqual({ code: 0, signal: null })
      }).pipe(Effect.scoped))
  }

  it.live("waits for a background upload before exiting", () =>
    Effect.gen(function*() {
      const { exit, marker, traces } = yield* run({ kind: "rejection", traced: true, putMs: 400, drainMs: 20_000 })
      expect(traces).toHaveLength(1)
      expect(exit).toEqual({ code: 1, signal: null })
      expect(fs.existsSync(`${marker}.uploaded`)).toBe(true)
    }).pipe(Effect.scoped))

  it.live("gives a hung upload only drainTimeout", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const { child, exit, marker, traces } = yield* run({
        kind: "exception",
        traced: true,
        putMs: 60_000,
        drainMs: 300
      })
      expect(traces).toHaveLength(1)
      expect(exit).toEqual({ code: 1, signal: null })
      expect(fs.existsSync(`${marker}.uploaded`)).toBe(false)
      expect(child.stdout()).toMatch(/Pending uploads did not finish in time/)
      expect(Date.now() - started).toBeLessThan(15_000)
    }).pipe(Effect.scoped))

  it.live("ends the process within fatalBudget when the trace's own (synchronous) upload hangs, the snapshot kept", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const { child, exit, marker, traces } = yield* run({
        kind: "exception",
        traced: true,
        putMs: 60_000,
        syncPut: true,
        fatalMs: 1_000
      })
      expect(traces).toHaveLength(1)
      expect(fs.existsSync(marker)).toBe(true)
      expect(fs.existsSync(`${marker}.uploaded`)).toBe(false)
      expect(exit).toEqual({ code: 1, signal: null })
      expect(child.stdout()).toMatch(/did not finish within fatalBudget/)
      expect(Date.now() - started).toBeLessThan(15_000)
    }).pipe(Effect.scoped))
})
