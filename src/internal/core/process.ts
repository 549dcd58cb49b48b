/**
 * Running one tracer: output to files (never pipes, see ARCHITECTURE.md, pitfall 1),
 * its own process group, an external watchdog, and SIGTERM-then-SIGKILL of
 * the whole group when the run is interrupted.
 *
 * @internal
 */
import type * as Command from "@effect/platform/Command"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as HashMap from "effect/HashMap"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { TracerRunError } from "../../TraceError.js"
import type { Stdio } from "../../TracerBackend.js"
import { findExecutable } from "./executable.js"
import { makeRunDir } from "./runDir.js"
import { clampUtf8 } from "./text.js"
import type { Watchdog } from "./watchdog.js"

/** A command, read off a `Command`, ready to spawn. */
export interface Spec {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly cwd: string | undefined
  readonly env: NodeJS.ProcessEnv
  readonly stdin: string | undefined
  /** A file stdout is appended to, instead of a private file read back. */
  readonly stdout?: string | undefined
  readonly stderr: string | undefined
}

/** How a tracer ended. */
export interface Finished {
  readonly path: string
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  readonly durationMs: number
  /** How long this process's main thread was seen stopped during the run, when the runner can tell. */
  readonly stoppedMs?: number
  /** The watchdog killed it at the deadline. */
  readonly deadlinePassed: boolean
}

/** What a run needs besides its command. */
export interface RunOptions {
  readonly deadline: Option.Option<Duration.Duration>
  readonly grace: Duration.Duration
  readonly watchdog: Watchdog
  /** Called when the tracer's group cannot be killed. */
  readonly onKillFailure: (reason: string) => void
  /** Sends a signal to a process group; replaceable to test kill failures. */
  readonly kill?: (pgid: number, signal: NodeJS.Signals) => void
}

const ARG_MAX_BYTES = 128 * 1024 - 1
const STDERR_TAIL_BYTES = 4096
const STDOUT_MAX_BYTES = 64 * 1024 * 1024

/** Makes a string safe as one argv entry: no NUL byte, under the kernel's 128 KiB limit. */
export const safeArg = (arg: string): string => clampUtf8(arg, ARG_MAX_BYTES, "...")

/**
 * Why the core cannot run `command` as the backend meant it, if it cannot:
 * the core runs one program with its output in files, in its own process
 * group, so pipes, stdio settings, a shell, a uid or a gid would be ignored.
 */
export const unsupported = (command: Command.Command): string | undefined => {
  if (command._tag !== "StandardCommand") return "piped commands are not supported; give one command"
  const fields = [
    command.stdin !== "pipe" && "stdin",
    command.stdout !== "pipe" && "stdout",
    command.stderr !== "pipe" && "stderr",
    command.shell !== false && "shell",
    Option.isSome(command.uid) && "uid",
    Option.isSome(command.gid) && "gid"
  ].filter((f): f is string => f !== false)
  return fields.length === 0
    ? undefined
    : `Command fields the core cannot honour: ${fields.join(", ")} (the core runs the program itself, with its ` +
      "output in files; give stdio files through the backend's `stdio`)"
}

/**
 * This process's environment without what a tracer must not see: the
 * library's own `BCD_*` variables (`BCD_TOKEN`…) and any variable whose value
 * holds one of `secrets`.
 */
export const scrubbedEnv = (
  env: NodeJS.ProcessEnv,
  secrets: ReadonlyArray<Redacted.Redacted<string>>
): NodeJS.ProcessEnv => {
  const values = secrets.map(Redacted.value).filter((secret) => secret !== "")
  return Object.fromEntries(
    Object.entries(env).filter(([key, value]) =>
      !key.startsWith("BCD_") && !values.some((secret) => value?.includes(secret) === true)
    )
  )
}

/** How the tracer's environment is made; see `TracerConfig.tracerEnvironment`. */
export interface Environment {
  readonly mode: "scrubbed" | "inherit"
  readonly secrets: ReadonlyArray<Redacted.Redacted<string>>
}

/** Reads the program, args, working directory and env off a `Command`. */
export const fromCommand = (
  command: Command.Command,
  stdio: Stdio = {},
  environment: Environment = { mode: "inherit", secrets: [] }
): Either.Either<Spec, string> => {
  const why = unsupported(command)
  if (why !== undefined || command._tag !== "StandardCommand") return Either.left(why ?? "")
  const extra = Object.fromEntries(HashMap.toEntries(command.env))
  const inherited = environment.mode === "inherit" ? process.env : scrubbedEnv(process.env, environment.secrets)
  return Either.right({
    command: command.command,
    args: command.args.map(safeArg),
    cwd: Option.getOrUndefined(command.cwd),
    // `extendEnv` arrived in @effect/platform 0.97.1; before it, a command's env always extended the process's.
    env: "extendEnv" in command && command.extendEnv === false ? extra : { ...inherited, ...extra },
    stdin: stdio.stdin,
    stdout: stdio.stdout,
    stderr: stdio.stderr
  })
}

interface Files {
  closed: boolean
  readonly dir: string
  readonly stdin: number | "ignore"
  readonly stdout: number
  readonly stderr: number
  readonly stderrFile: string
  readonly stderrStart: number
}

const openFiles = (spec: Spec, program: string) =>
  Effect.try({
    try: (): Files => {
      const dir = makeRunDir()
      const opened: Array<number> = []
      try {
        const open = (file: string, flags: string) => {
          const fd = fs.openSync(file, flags, 0o600)
          opened.push(fd)
          return fd
        }
        const stdin = spec.stdin === undefined ? "ignore" as const : open(spec.stdin, "r")
        const stdout = spec.stdout === undefined ? open(path.join(dir, "stdout"), "w") : open(spec.stdout, "a")
        const stderrFile = spec.stderr ?? path.join(dir, "stderr")
        const stderr = open(stderrFile, "a")
        return { closed: false, dir, stdin, stdout, stderr, stderrFile, stderrStart: fs.fstatSync(stderr).size }
      } catch (error) {
        opened.forEach((fd) => fs.closeSync(fd))
        fs.rmSync(dir, { recursive: true, force: true })
        throw error
      }
    },
    catch: (cause) =>
      new TracerRunError({
        path: program,
        reason: "io",
        detail: `could not open its stdio files: ${String(cause)}`,
        cause
      })
  })

/** Closes the parent's copies once; a second close could hit a reused descriptor. */
const closeFds = (files: Files) => {
  if (files.closed) return
  files.closed = true
  for (const fd of [files.stdin, files.stdout, files.stderr]) {
    if (typeof fd === "number") {
      try {
        fs.closeSync(fd)
      } catch {
        // already closed
      }
    }
  }
}

const readTail = (file: string, from: number): string => {
  try {
    const fd = fs.openSync(file, "r")
    try {
      const size = fs.fstatSync(fd).size
      const start = Math.max(from, size - STDERR_TAIL_BYTES)
      const buffer = Buffer.alloc(Math.max(size - start, 0))
      fs.readSync(fd, buffer, 0, buffer.length, start)
      return buffer.toString("utf8")
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    return ""
  }
}

/** The tracer's stdout, at most 64 MiB of it: a runaway tracer must not exhaust this process's memory. */
const readStdout = (file: string): string => {
  const fd = fs.openSync(file, "r")
  try {
    const size = Math.min(fs.fstatSync(fd).size, STDOUT_MAX_BYTES)
    const buffer = Buffer.alloc(size)
    fs.readSync(fd, buffer, 0, size, 0)
    return buffer.toString("utf8")
  } finally {
    fs.closeSync(fd)
  }
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

/** Resolves with whether the child exited within `ms`. Uses no interruption, so it is safe in a finalizer. */
const awaitExit = (child: ChildProcess, ms: number) =>
  Effect.async<boolean>((resume) => {
    if (exited(child)) return resume(Effect.succeed(true))
    const onExit = () => {
      clearTimeout(timer)
      resume(Effect.succeed(true))
    }
    const timer = setTimeout(() => {
      child.off("exit", onExit)
      resume(Effect.succeed(exited(child)))
    }, ms)
    child.once("exit", onExit)
  })

const defaultKill = (pgid: number, signal: NodeJS.Signals) => process.kill(-pgid, signal)

/** SIGTERM to the whole group, then SIGKILL after `grace`; reports a group that will not die. */
const killGroup = (child: ChildProcess, options: RunOptions) =>
  Effect.gen(function*() {
    const pgid = child.pid
    if (pgid === undefined || exited(child)) return
    const kill = options.kill ?? defaultKill
    const send = (signal: NodeJS.Signals): string | undefined => {
      try {
        kill(pgid, signal)
        return undefined
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === "ESRCH" ? undefined : String(error)
      }
    }
    const graceMs = Duration.toMillis(options.grace)
    const termError = send("SIGTERM")
    const leaderGone = yield* awaitExit(child, graceMs)
    // Always SIGKILL the group: stragglers (gdb under gcore's shell) must not stay attached.
    const killError = send("SIGKILL")
    if (leaderGone || (yield* awaitExit(child, graceMs))) return
    options.onKillFailure(
      `process group ${pgid} survived SIGTERM and SIGKILL` +
        (killError ?? termError ? `: ${killError ?? termError}` : "")
    )
  })

/**
 * Spawns the tracer and waits for it. Interrupting the returned effect kills
 * the tracer's process group before the interruption completes.
 */
export const run = (spec: Spec, options: RunOptions): Effect.Effect<Finished, TracerRunError> =>
  Effect.suspend(() => {
    const program = findExecutable(spec.command, spec.env.PATH, spec.cwd)
    if (program === undefined) {
      return Effect.fail(new TracerRunError({ path: spec.command, reason: "not-found" }))
    }
    if (spec.cwd !== undefined && !fs.existsSync(spec.cwd)) {
      return Effect.fail(
        new TracerRunError({ path: program, reason: "spawn-failed", detail: `no directory ${spec.cwd}` })
      )
    }
    const argv = Option.match(options.deadline, {
      onNone: () => [program, ...spec.args],
      onSome: (deadline) => options.watchdog.wrap([program, ...spec.args], deadline, options.grace)
    })
    return Effect.acquireUseRelease(
      openFiles(spec, program),
      (files) => spawnAndWait(program, argv, spec, files, options),
      (files) =>
        Effect.sync(() => {
          closeFds(files)
          fs.rmSync(files.dir, { recursive: true, force: true })
        })
    )
  })

const spawnAndWait = (
  program: string,
  argv: ReadonlyArray<string>,
  spec: Spec,
  files: Files,
  options: RunOptions
) =>
  Effect.async<Finished, TracerRunError>((resume) => {
    const started = performance.now()
    let child: ChildProcess
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        cwd: spec.cwd,
        env: spec.env,
        detached: true,
        stdio: [files.stdin, files.stdout, files.stderr]
      })
    } catch (cause) {
      resume(Effect.fail(new TracerRunError({ path: program, reason: "spawn-failed", detail: String(cause), cause })))
      return
    }
    closeFds(files)
    let done = false
    const finish: typeof resume = (effect) => {
      if (!done) {
        done = true
        resume(effect)
      }
    }
    // `on`, not `once`: an 'error' event with no listener left would be thrown in this process.
    child.on("error", (cause) => {
      finish(Effect.fail(new TracerRunError({ path: program, reason: "spawn-failed", detail: cause.message, cause })))
    })
    child.once("exit", (code, signal) => {
      const elapsed = performance.now() - started
      finish(Effect.try({
        try: () => ({
          path: program,
          code,
          signal,
          // Output sent to the backend's own file is not read into this process.
          stdout: spec.stdout === undefined ? readStdout(path.join(files.dir, "stdout")) : "",
          stderr: readTail(files.stderrFile, files.stderrStart),
          durationMs: Math.round(elapsed),
          // A SIGKILL before the deadline came from elsewhere (the OOM killer), not from the watchdog.
          deadlinePassed: Option.match(options.deadline, {
            onNone: () => false,
            onSome: (deadline) => options.watchdog.fired(code, signal) && elapsed >= Duration.toMillis(deadline) - 1
          })
        }),
        catch: (cause) =>
          new TracerRunError({
            path: program,
            reason: "io",
            detail: `could not read its output: ${String(cause)}`,
            cause
          })
      }))
    })
    return killGroup(child, options)
  })
