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

describe("TracerBackend.stdio", () => {
  it.live("per trace: stdout appended to a file of the plan, never read back", () =>
    withTempDir((dir) => {
      let n = 0
      const backend: TracerBackend.TracerBackend<{ readonly file: string }> = {
        name: "sh",
        program: "sh",
        defaultTraceOptions: TraceOptions.defaults,
        plan: () => Effect.sync(() => ({ file: path.join(dir, `out-${++n}`) })),
        prepare: (_request, plan) => Effect.as(Effect.sync(() => fs.writeFileSync(plan.file, "header\n")), plan),
        stdio: (_request, plan) => ({ stdout: plan.file }),
        command: (request) => Command.make("sh", "-c", "echo \"pid $1\"", "sh", String(request.pid))
      }
      return Effect.gen(function*() {
        const first = yield* Tracer.trace()
        const second = yield* Tracer.trace()
        expect(first.stdout).toBe("")
        expect(fs.readFileSync(path.join(dir, "out-1"), "utf8")).toBe(`header\npid ${process.pid}\n`)
        expect(fs.readFileSync(path.join(dir, "out-2"), "utf8")).toBe(`header\npid ${process.pid}\n`)
        expect(second.plan).toEqual({ file: path.join(dir, "out-2") })
      }).pipe(Effect.provide(Layer.merge(Tracer.layer(backend), noCooldown)))
    }))
})

describe("TracerBackend.exitCodes", () => {
  const exiting = (code: number, exitCodes?: ReadonlyArray<number>): TracerBackend.TracerBackend => ({
    name: "sh",
    program: "sh",
    defaultTraceOptions: TraceOptions.defaults,
    command: () => Command.make("sh", "-c", `echo out; echo "warning $1" >&2; exit $1`, "sh", String(code)),
    ...(exitCodes === undefined ? {} : { exitCodes })
  })

  it.live("an exit code listed counts as success; the result carries it and stderr's end", () =>
    Effect.gen(function*() {
      const result = yield* Tracer.trace()
      expect(result).toMatchObject({ stdout: "out\n", exitCode: 1, stderr: "warning 1\n" })
    }).pipe((e) => run(exiting(1, [0, 1]), e)))

  it.live("by default only 0 does", () =>
    Effect.gen(function*() {
      expect(yield* Effect.flip(Tracer.trace())).toMatchObject({ _tag: "TracerRunError", exitCode: 1 })
      const ok = yield* Tracer.trace().pipe((e) => run(exiting(0), e))
      expect(ok).toMatchObject({ exitCode: 0, stderr: "warning 0\n" })
    }).pipe((e) => run(exiting(1), e)))
})
