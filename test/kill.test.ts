import * as Command from "@effect/platform/Command"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Fiber, Layer, Logger, Option } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Process from "../src/internal/core/process.js"
import * as internal from "../src/internal/core/tracer.js"
import * as Watchdog from "../src/internal/core/watchdog.js"
import * as TraceOptions from "../src/TraceOptions.js"
import * as Tracer from "../src/Tracer.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { alive, gone, shBackend } from "./support/backends.js"
import { testTempDir, withTempDir } from "./support/temp.js"

const GRACE_MS = 500
const config = TracerConfig.layer({ rateLimit: 0, killGrace: GRACE_MS })

const readPid = (file: string) =>
  Effect.gen(function*() {
    while (!fs.existsSync(file) || fs.readFileSync(file, "utf8").trim() === "") yield* Effect.sleep("10 millis")
    return Number(fs.readFileSync(file, "utf8"))
  })

const tracerPid = () => {
  const line = fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith("TracerPid:"))
  return Number(line?.split(/\s+/)[1])
}

describe("kill on timeout", () => {
  it.live("a tracer that ignores SIGTERM is dead within grace + 1 s of its deadline", () =>
    withTempDir((dir) => {
      const pidFile = path.join(dir, "pid")
      const backend = shBackend("trap \"\" TERM; echo $$ > \"$1\"; exec sleep 30", () => [pidFile])
      return Effect.gen(function*() {
        const started = Date.now()
        const error = yield* Effect.flip(Tracer.trace(undefined, { timeout: "1 second" }))
        const elapsed = Date.now() - started
        expect(error).toMatchObject({ _tag: "TraceTimeoutError", phase: "execution" })
        expect(elapsed).toBeLessThan(1_000 + GRACE_MS + 1_000)
        const pid = yield* readPid(pidFile)
        expect(yield* Effect.promise(() => gone(pid, 250))).toBe(true)
      }).pipe(Effect.provide(Layer.merge(Tracer.layer(backend), config)))
    }))

  it.live("a tracer killed by SIGKILL well before its deadline (the OOM killer) is a TracerRunError, not a timeout", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Tracer.trace(undefined, { timeout: "20 seconds" }))
      expect(error).toMatchObject({ _tag: "TracerRunError", signal: "SIGKILL" })
    }).pipe(Effect.provide(Layer.merge(Tracer.layer(shBackend("kill -KILL $$")), config))))

  it.live("gdb that stops this process and hangs is killed on time, and the process carries on", () => {
    const gdb = {
      name: "gdb-hang",
      program: "gdb",
      defaultTraceOptions: TraceOptions.defaults,
      command: (req: { pid: number }) =>
        Command.make("gdb", "-p", String(req.pid), "-batch", "-nx", "-ex", "shell sleep 60")
    }
    return Effect.gen(function*() {
      let ticks = 0
      const timer = setInterval(() => ticks++, 50)
      const started = Date.now()
      const error = yield* Effect.flip(Tracer.trace(undefined, { timeout: "3 seconds" }))
      const elapsed = Date.now() - started
      expect(error).toMatchObject({ _tag: "TraceTimeoutError", phase: "execution" })
      expect(elapsed).toBeLessThan(3_000 + GRACE_MS + 2_000)
      expect(tracerPid()).toBe(0)
      const before = ticks
      yield* Effect.sleep("300 millis")
      clearInterval(timer)
      expect(ticks).toBeGreaterThan(before)
    }).pipe(Effect.provide(Layer.merge(Tracer.layer(gdb), config)))
  }, 30_000)

  it.live("an interrupted tracer's whole group dies, a straggler that ignores SIGTERM included", () =>
    withTempDir((dir) => {
      const pidFile = path.join(dir, "pid")
      // The leader dies of SIGTERM at once; its child ignores SIGTERM (gdb left behind by gcore's shell).
      const backend = shBackend("(trap \"\" TERM; exec sleep 30) & echo $! > \"$1\"; wait", () => [pidFile])
      return Effect.gen(function*() {
        const running = yield* Effect.fork(Tracer.trace(undefined, { timeout: "none" }))
        const pid = yield* readPid(pidFile)
        expect(alive(pid)).toBe(true)
        yield* Fiber.interrupt(running)
        expect(yield* Effect.promise(() => gone(pid, 1_000))).toBe(true)
      }).pipe(Effect.provide(Layer.merge(Tracer.layer(backend), config)))
    }))

  const unkillable = (panicOnKillFailure: boolean) =>
    withTempDir((dir) => {
      const pidFile = path.join(dir, "pid")
      const backend = shBackend("echo $$ > \"$1\"; exec sleep 30", () => [pidFile])
      const eperm = () => {
        throw Object.assign(new Error("kill EPERM"), { code: "EPERM" })
      }
      const logs: Array<string> = []
      const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(String(message))))
      return Effect.gen(function*() {
        const tracer = yield* internal.make(backend, { kill: eperm, watchdog: Watchdog.none })
        const exit = yield* Effect.exit(tracer.trace(undefined, { timeout: "300 millis" }))
        const pid = yield* readPid(pidFile)
        expect(alive(pid)).toBe(true)
        process.kill(pid, "SIGKILL")
        return { exit, logs }
      }).pipe(
        Effect.scoped,
        Effect.provide(Layer.merge(capture, TracerConfig.layer({ rateLimit: 0, killGrace: 100, panicOnKillFailure })))
      )
    })

  it.live("a kill that fails is a defect with panicOnKillFailure", () =>
    Effect.gen(function*() {
      const { exit } = yield* unkillable(true)
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      const defect = Exit.isFailure(exit) ? Option.getOrThrow(Cause.dieOption(exit.cause)) : undefined
      expect(defect).toMatchObject({ _tag: "TracerKillError" })
      expect(String((defect as Error).message)).toMatch(/survived SIGTERM and SIGKILL: .*EPERM/)
    }))

  it.live("a kill that fails is only logged without panicOnKillFailure", () =>
    Effect.gen(function*() {
      const { exit, logs } = yield* unkillable(false)
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(false)
      const error = Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()
      expect(Option.getOrUndefined(error)).toMatchObject({ _tag: "TraceTimeoutError", phase: "execution" })
      expect(logs.some((line) => line.includes("Failed to kill tracer"))).toBe(true)
    }))
})

describe("the external watchdog (coreutils timeout)", () => {
  // No in-process timeout here: only the watchdog can end these runs.
  const runAlone = (script: string) =>
    Process.run(
      { command: "sh", args: ["-c", script], cwd: undefined, env: process.env, stdin: undefined, stderr: undefined },
      {
        deadline: Option.some(Duration.millis(300)),
        grace: Duration.millis(200),
        watchdog: Watchdog.detect(),
        onKillFailure: () => {}
      }
    )

  it.live.skipIf(Watchdog.detect().name === "none")(
    "ends a tracer at the deadline, escalating to SIGKILL, and says so",
    () =>
      Effect.gen(function*() {
        const started = Date.now()
        const polite = yield* runAlone("exec sleep 30")
        expect(polite).toMatchObject({ code: 124, deadlinePassed: true })
        const stubborn = yield* runAlone("trap \"\" TERM; exec sleep 30")
        expect(stubborn).toMatchObject({ signal: "SIGKILL", deadlinePassed: true })
        expect(Date.now() - started).toBeLessThan(10_000)
        const quick = yield* runAlone("exit 0")
        expect(quick).toMatchObject({ code: 0, deadlinePassed: false })
      })
  )

  it("only GNU coreutils' timeout is used: BusyBox's (Alpine) has other options and exit codes", () => {
    const dir = testTempDir()
    fs.copyFileSync("/bin/true", path.join(dir, "busybox"))
    fs.symlinkSync(path.join(dir, "busybox"), path.join(dir, "timeout"))
    expect(Watchdog.fromPath(path.join(dir, "timeout")).name).toBe("none")
    expect(Watchdog.fromPath(path.join(dir, "missing")).name).toBe("none")
    const gnu = execFileSync("sh", ["-c", "command -v timeout"], { encoding: "utf8" }).trim()
    if (execFileSync(gnu, ["--version"], { encoding: "utf8" }).includes("GNU coreutils")) {
      expect(Watchdog.fromPath(gnu).name).toBe("coreutils timeout")
    }
  })
})

describe("no pipe deadlock", () => {
  it.live("gdb attached to this process printing several MB completes", () => {
    const gdb = {
      name: "gdb-verbose",
      program: "gdb",
      defaultTraceOptions: TraceOptions.defaults,
      command: (req: { pid: number }) =>
        Command.make("gdb", "-p", String(req.pid), "-batch", "-nx", "-ex", "info functions v8::internal::")
    }
    return Effect.gen(function*() {
      const result = yield* Tracer.trace(undefined, { timeout: "90 seconds" })
      expect(Buffer.byteLength(result.stdout)).toBeGreaterThan(1024 * 1024)
      expect(result.stdout).toContain("v8::internal::")
    }).pipe(Effect.provide(Layer.merge(Tracer.layer(gdb), config)))
  }, 120_000)
})
