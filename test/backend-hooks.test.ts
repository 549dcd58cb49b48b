/**
 * The optional `prepare` and `finalize` hooks of `TracerBackend`, with small
 * real tracers (`cat`, `sh`).
 */
import * as Command from "@effect/platform/Command"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { TraceError, TraceOptions, Tracer, type TracerBackend } from "../src/index.js"
import { noCooldown } from "./support/config.js"
import { withTempDir } from "./support/temp.js"

const run = <A, E>(backend: TracerBackend.TracerBackend, effect: Effect.Effect<A, E, Tracer.Tracer>) =>
  Effect.provide(effect, Layer.merge(Tracer.layer(backend), noCooldown))

describe("TracerBackend.prepare", () => {
  it.live("runs before the tracer starts: the tracer sees what it created", () =>
    withTempDir((dir) => {
      const file = path.join(dir, "prepared")
      const calls: Array<string> = []
      const backend: TracerBackend.TracerBackend = {
        name: "cat",
        program: "cat",
        defaultTraceOptions: TraceOptions.defaults,
        command: () => {
          calls.push("command")
          return Command.make("cat", file)
        },
        prepare: (request) =>
          Effect.sync(() => {
            calls.push("prepare")
            fs.writeFileSync(file, `pid ${request.pid}`)
          })
      }
      return Effect.gen(function*() {
        const result = yield* Tracer.trace()
        expect(result.stdout).toBe(`pid ${process.pid}`)
        // Tracer.make builds the command once to check it (a backend without a plan); then the trace's own.
        expect(calls).toEqual(["command", "command", "prepare"])
      }).pipe((e) => run(backend, e))
    }))

  it.live("a failing prepare is the trace's error, and the tracer never runs", () =>
    withTempDir((dir) => {
      const marker = path.join(dir, "ran")
      const backend: TracerBackend.TracerBackend = {
        name: "touch",
        program: "touch",
        defaultTraceOptions: TraceOptions.defaults,
        command: () => Command.make("touch", marker),
        prepare: () =>
          Effect.fail(new TraceError.TracerRunError({ path: "touch", reason: "io", detail: "cannot prepare" }))
      }
      return Effect.gen(function*() {
        const error = yield* Effect.flip(Tracer.trace())
        expect(error).toMatchObject({ _tag: "TracerRunError", reason: "io", detail: "cannot prepare" })
        expect(fs.existsSync(marker)).toBe(false)
      }).pipe((e) => run(backend, e))
    }))
})

describe("TracerBackend.finalize", () => {
  it.live("rewrites the result of a successful run, before the upload", () => {
    const uploaded: Array<Option.Option<string>> = []
    const backend: TracerBackend.TracerBackend = {
      name: "echo",
      program: "echo",
      defaultTraceOptions: TraceOptions.defaults,
      command: () => Command.make("echo", "raw"),
      finalize: (result) => Effect.succeed({ ...result, snapshot: Option.some(`finalized:${result.stdout.trim()}`) }),
      put: (result) =>
        Effect.sync(() => {
          uploaded.push(result.snapshot)
        })
    }
    return Effect.gen(function*() {
      const result = yield* Tracer.trace()
      expect(result.snapshot).toEqual(Option.some("finalized:raw"))
      expect(uploaded).toEqual([Option.some("finalized:raw")])
    }).pipe((e) => run(backend, e))
  })

  it.live("is not called when the tracer fails", () => {
    let finalized = 0
    const backend: TracerBackend.TracerBackend = {
      name: "sh",
      program: "sh",
      defaultTraceOptions: TraceOptions.defaults,
      command: () => Command.make("sh", "-c", "exit 3"),
      finalize: (result) =>
        Effect.sync(() => {
          finalized++
          return result
        })
    }
    return Effect.gen(function*() {
      const error = yield* Effect.flip(Tracer.trace())
      expect(error).toMatchObject({ _tag: "TracerRunError", exitCode: 3 })
      expect(finalized).toBe(0)
    }).pipe((e) => run(backend, e))
  })
})
