/**
 * What a text snapshot says about its Effect context, with real eu-stack and
 * gdb attached to this test process: error values that throw when read
 * still give a snapshot, and Node's view of the process is embedded without
 * the environment or anything secret (checked in a child program whose argv
 * and environment hold tokens), even while a Worker is blocked.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Layer, Option } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { EuStack, Gdb, Tracer } from "../src/index.js"
import { REPORT_TITLE } from "../src/internal/snapshot/header.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { tsx } from "./support/child.js"
import { withTempDir } from "./support/temp.js"

const euStack = (dir: string, config: TracerConfig.Input = {}) =>
  Effect.provide(
    Layer.merge(EuStack.layer({ outputDir: dir, program: "ctx" }), TracerConfig.layer({ rateLimit: 0, ...config }))
  )

const throwing = (what: string) => () => {
  throw new Error(`${what} getter throws`)
}

/** Values that throw when a trace reads them, each with the classifier it should get. */
const hostile = (): ReadonlyArray<readonly [string, unknown, string]> => {
  const stackThrows = new RangeError("stack getter throws")
  Object.defineProperty(stackThrows, "stack", { get: throwing("stack") })
  // The stack first: V8 formats an Error's pending stack from its name and message when the stack is replaced.
  const gettersThrow = Object.defineProperty(new SyntaxError(), "stack", { get: throwing("stack") })
  Object.defineProperty(gettersThrow, "message", { get: throwing("message") })
  Object.defineProperty(gettersThrow, "name", { get: throwing("name") })
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  const toStringThrows = { toString: throwing("toString"), [Symbol.toPrimitive]: throwing("toPrimitive") }
  return [
    ["a throwing stack getter", stackThrows, "RangeError"],
    ["throwing message, name and stack getters", gettersThrow, "SyntaxError"],
    ["a revoked Proxy", proxy, "Object"],
    ["an object whose toString throws", toStringThrows, "Object"],
    ["an object with no prototype", Object.create(null), "Object"],
    ["a Cause dying with a revoked Proxy", Cause.die(proxy), "Object"],
    ["a Cause failing with a throwing stack getter", Cause.fail(stackThrows), "RangeError"]
  ]
}

describe("hostile error values (real eu-stack)", () => {
  for (const [name, value, classifier] of hostile()) {
    it.live(`${name}: the trace succeeds and its snapshot is written`, () =>
      withTempDir((dir) =>
        Effect.gen(function*() {
          const result = yield* Tracer.trace(value)
          const text = fs.readFileSync(Option.getOrThrow(result.snapshot), "utf8")
          expect(text).toMatch(/^effect-bcd snapshot \(eu-stack\)/)
          expect(text).toContain(`classifiers: ${classifier}`)
          expect(text).toMatch(/^TID \d+:/m)
        }).pipe(euStack(dir, { nodeReport: false }))
      ))
  }
})

describe("hostile error values (real gdb)", () => {
  it.live("a throwing stack getter keeps the gdb snapshot", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const [, value] = hostile()[0]!
        const result = yield* Tracer.trace(value)
        const text = fs.readFileSync(Option.getOrThrow(result.snapshot), "utf8")
        expect(text).toContain("classifiers: RangeError")
        expect(text).toContain("error:       stack getter throws")
      }).pipe(
        Effect.provide(
          Layer.merge(
            Gdb.layer({ outputDir: dir, program: "ctx" }),
            TracerConfig.layer({ rateLimit: 0, nodeReport: false })
          )
        )
      )
    ))
})

/** Runs the report-secrets fixture; killed after 45 s (a trace that hangs fails the test, never the worker). */
const runChild = (dir: string, args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.async<{ code: number | null; stdout: string; stderr: string }>((resume) => {
    const fixture = path.resolve(import.meta.dirname, "fixtures/report-secrets.ts")
    const child = spawn(process.execPath, ["--import", tsx, fixture, dir, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (c) => (stdout += c))
    child.stderr.on("data", (c) => (stderr += c))
    child.on("exit", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  }).pipe(
    Effect.timeoutFail({ duration: "45 seconds", onTimeout: () => new Error("the child did not finish in 45 s") }),
    Effect.orDie
  )

const snapshotOf = (stdout: string) =>
  fs.readFileSync((JSON.parse(stdout.trim().split("\n").at(-1)!) as { snapshot: string }).snapshot, "utf8")

describe("Node's view of the process in the snapshot", () => {
  it.live("is embedded after the header, and left out with nodeReport: false", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const on = yield* Tracer.trace(new Error("with report")).pipe(euStack(dir))
        const text = fs.readFileSync(Option.getOrThrow(on.snapshot), "utf8")
        const at = text.indexOf(`${REPORT_TITLE}:`)
        expect(at).toBeGreaterThan(0)
        expect(at).toBeLessThan(text.search(/^TID \d+:/m))
        for (const part of ["\"handles\"", "\"heap\"", "\"resourceUsage\"", "\"commandLine\"", "\"limits\""]) {
          expect(text).toContain(part)
        }
        expect(text).not.toContain("environmentVariables")
        const off = yield* Tracer.trace(new Error("without report")).pipe(euStack(dir, { nodeReport: false }))
        expect(fs.readFileSync(Option.getOrThrow(off.snapshot), "utf8")).not.toContain(REPORT_TITLE)
      })
    ))

  it.live("holds no secret from the environment or argv (a child program)", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const secrets = {
          env: "env-secret-9f2c41",
          bcd: "bcd-token-77aa01",
          flagEquals: "argv-secret-3b8e1d",
          flagNext: "argv-secret-51c0aa",
          url: "url-password-c3d4e5",
          query: "query-token-0a9b8c"
        }
        const args = [
          `--api-token=${secrets.flagEquals}`,
          "--password",
          secrets.flagNext,
          `https://deploy:${secrets.url}@example.invalid/hook?token=${secrets.query}`
        ]
        const output = yield* runChild(dir, args, { MY_SERVICE_TOKEN: secrets.env, BCD_TOKEN: secrets.bcd })
        expect(output.code, output.stderr).toBe(0)
        const text = snapshotOf(output.stdout)
        expect(text).toContain(REPORT_TITLE)
        // The command line is there, with the secrets' places redacted.
        expect(text).toContain("--api-token=<redacted>")
        expect(text).toContain("https://deploy:<redacted>@example.invalid/hook?token=<redacted>")
        for (const secret of Object.values(secrets)) expect(text).not.toContain(secret)
      })
    ))

  it.live("a Worker blocked in a native call does not hold the trace (process.report.getReport() would wait for ever)", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const fifo = path.join(dir, "never-written")
        execFileSync("mkfifo", [fifo])
        const output = yield* runChild(dir, [], { BCD_BLOCKED_FIFO: fifo })
        expect(output.code, output.stderr).toBe(0)
        const text = snapshotOf(output.stdout)
        expect(text).toContain(REPORT_TITLE)
        expect(text).toMatch(/^TID \d+:/m)
      })
    ))
})
