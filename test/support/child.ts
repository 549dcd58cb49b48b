/**
 * Running a fixture (test/fixtures/*.ts) as a real child Node program under
 * tsx, reading its JSON lines, and waiting for files and for its exit.
 */
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

/** tsx's loader as a URL, so `--import` finds it whatever the child's working directory. */
export const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
const fixtures = path.resolve(import.meta.dirname, "../fixtures")

export interface Child {
  readonly process: ChildProcess
  /** The JSON lines printed so far. */
  readonly lines: Array<Record<string, unknown>>
  readonly stderr: () => string
  /** Stdout lines that are not JSON (log lines). */
  readonly stdout: () => string
  /** The first line (so far or later) for which `predicate` holds. */
  readonly line: (predicate: (line: Record<string, unknown>) => boolean) => Effect.Effect<Record<string, unknown>>
  /** How the child ended. */
  readonly exit: Effect.Effect<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly alive: () => boolean
}

/** Runs `test/fixtures/<name>.ts` with `setup` as BCD_FIXTURE; killed with the scope if still running. */
export const fixture = (
  name: string,
  setup: object,
  options: { readonly cwd: string; readonly imports?: ReadonlyArray<string>; readonly nodeArgs?: ReadonlyArray<string> }
): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const args = [
        ...(options.nodeArgs ?? []),
        "--import",
        tsx,
        ...(options.imports ?? []).flatMap((i) => ["--import", i]),
        path.join(fixtures, `${name}.ts`)
      ]
      const child = spawn(process.execPath, args, {
        cwd: options.cwd,
        env: { ...process.env, BCD_FIXTURE: JSON.stringify(setup) },
        stdio: ["pipe", "pipe", "pipe"]
      })
      const lines: Array<Record<string, unknown>> = []
      const waiting = new Set<() => void>()
      const other: Array<string> = []
      let stderr = ""
      let buffer = ""
      child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        buffer += chunk
        let newline: number
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const text = buffer.slice(0, newline)
          // Log lines (Effect's logger writes to stdout) are not the fixture's JSON: keep them apart.
          if (text.startsWith("{")) lines.push(JSON.parse(text))
          else other.push(text)
          buffer = buffer.slice(newline + 1)
        }
        waiting.forEach((wake) => wake())
      })
      child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
        stderr += chunk
      })
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on("exit", (code, signal) => {
          resolve({ code, signal })
          waiting.forEach((wake) => wake())
        })
      )
      const line = (predicate: (line: Record<string, unknown>) => boolean) =>
        Effect.async<Record<string, unknown>>((resume) => {
          const check = () => {
            const found = lines.find(predicate)
            if (found !== undefined) {
              waiting.delete(check)
              resume(Effect.succeed(found))
            } else if (child.exitCode !== null || child.signalCode !== null) {
              waiting.delete(check)
              resume(
                Effect.dieMessage(`fixture ended without the line; stdout: ${JSON.stringify(lines)} stderr: ${stderr}`)
              )
            }
          }
          waiting.add(check)
          check()
          return Effect.sync(() => waiting.delete(check))
        }).pipe(
          Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("no such line in time") }),
          Effect.orDie
        )
      return {
        process: child,
        lines,
        stderr: () => stderr,
        stdout: () => other.join("\n"),
        line,
        exit: Effect.promise(() => exited).pipe(
          Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("fixture did not exit in time") }),
          Effect.orDie
        ),
        alive: () => child.exitCode === null && child.signalCode === null
      } satisfies Child
    }),
    (child) => Effect.sync(() => child.alive() && child.process.kill("SIGKILL"))
  )

/** The lines of a marker file, parsed (none when it does not exist). */
export const readMarker = (file: string): Array<Record<string, unknown>> =>
  fs.existsSync(file)
    ? fs.readFileSync(file, "utf8").split("\n").filter((l) => l !== "").map((l) => JSON.parse(l))
    : []

/** Waits until the marker file has at least `count` lines, then returns them all. */
export const markerLines = (file: string, count: number): Effect.Effect<Array<Record<string, unknown>>> =>
  Effect.suspend(() => {
    const lines = readMarker(file)
    return lines.length >= count
      ? Effect.succeed(lines)
      : Effect.fail(new Error(`${file}: ${lines.length} of ${count} lines`))
  }).pipe(
    Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 1000 }),
    Effect.orDie
  )

/**
 * Runs `test/fixtures/<fixture>` with Node (`nodeArgs` first) and `args`, and
 * returns its last stdout line as JSON once it exits 0 (killed if the fiber
 * is interrupted; at most 50 s). Removes the perf map it may have written.
 */
export const runFixture = (nodeArgs: ReadonlyArray<string>, fixture: string, ...args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const child = spawn(process.execPath, [...nodeArgs, "--import", tsx, path.join(fixtures, fixture), ...args], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const code = yield* Effect.async<number | null>((resume) => {
      child.once("exit", (c) => resume(Effect.succeed(c)))
      return Effect.sync(() => child.kill("SIGKILL"))
    }).pipe(Effect.timeout("50 seconds"))
    fs.rmSync(`/tmp/perf-${child.pid}.map`, { force: true })
    if (code !== 0) return yield* Effect.die(new Error(`fixture ${fixture} exited ${code}: ${stderr}`))
    return JSON.parse(stdout.trim().split("\n").pop()!) as unknown
  })

/**
 * Node flags that write the perf map JIT frames are named from, with V8's
 * code-event log (which `--perf-basic-prof` also writes) kept in `dir`,
 * out of the working directory.
 */
export const perfBasicProf = (dir: string): ReadonlyArray<string> => [
  "--perf-basic-prof",
  `--logfile=${path.join(dir, "v8.log")}`,
  "--no-logfile-per-isolate"
]
