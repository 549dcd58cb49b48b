import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fixture, readMarker, tempDir } from "./utils/child.js"

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

const run = (setup: object) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const marker = path.join(dir, "marker")
    const child = yield* fixture("uncaught", { marker, ...setup }, { cwd: dir })
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
        const traced = yield* run({ kind, traced: true })
        const control = yield* run({ kind, traced: false })
        expect(control.exit).toEqual({ code: 1, signal: null })
        expect(control.traces).toEqual([])
        expect(traced.ready.listeners).toBe(1)
        expect(traced.traces).toEqual([{ pid: traced.child.process.pid, error: "boom", classifiers: [classifier] }])
        expect(traced.exit).toEqual({ code: 1, signal: null })
        expect(withoutArrow(traced.child.stderr())).toBe(withoutArrow(control.child.stderr()))
        expect(withoutArrow(traced.child.stderr())).toMatch(kind === "rejection-string" ? /^UnhandledPromiseRejection: / : /^Error: boom\n/)
      }).pipe(Effect.scoped))
  }

  it.live("with a listener of the program's own: traces, and the program carries on", () =>
    Effect.gen(function*() {
      const { child, exit, traces } = yield* run({ kind: "exception", traced: true, foreign: true })
      expect(traces.map((t) => t.error)).toEqual(["boom"])
      expect(child.lines.some((l) => l.foreign === "uncaughtException")).toBe(true)
      expect(child.lines.some((l) => l.alive === true)).toBe(true)
      expect(exit).toEqual({ code: 0, signal: null })
      expect(child.stderr()).toBe("")
    }).pipe(Effect.scoped))

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
      const { child, exit, marker, traces } = yield* run({ kind: "exception", traced: true, putMs: 60_000, drainMs: 300 })
      expect(traces).toHaveLength(1)
      expect(exit).toEqual({ code: 1, signal: null })
      expect(fs.existsSync(`${marker}.uploaded`)).toBe(false)
      expect(child.stdout()).toMatch(/Pending uploads did not finish in time/)
      expect(Date.now() - started).toBeLessThan(15_000)
    }).pipe(Effect.scoped))
})
