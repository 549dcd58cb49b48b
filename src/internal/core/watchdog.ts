/**
 * The external deadline. No in-process timer fires while this process is
 * ptrace-stopped, so a tracer that hangs while holding it stopped must be
 * killed from outside. This module keeps that behind one small interface.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as fs from "node:fs"
import * as path from "node:path"
import { findExecutable } from "./executable.js"

/** Wraps a tracer command so that something outside this process enforces the deadline. */
export interface Watchdog {
  readonly name: string
  /** The argv that runs `argv` under the deadline, killing its process group after `grace`. */
  readonly wrap: (
    argv: ReadonlyArray<string>,
    deadline: Duration.Duration,
    grace: Duration.Duration
  ) => ReadonlyArray<string>
  /** Whether an exit means the watchdog killed the tracer. */
  readonly fired: (code: number | null, signal: NodeJS.Signals | null) => boolean
}

const seconds = (d: Duration.Duration) => `${Math.max(Duration.toMillis(d), 1) / 1000}s`

/**
 * coreutils `timeout`: it runs in the tracer's process group, exits 124 when
 * SIGTERM sufficed, and SIGKILLs its whole group (itself included) when not.
 */
export const coreutils = (file: string): Watchdog => ({
  name: "coreutils timeout",
  wrap: (argv, deadline, grace) => [file, `--kill-after=${seconds(grace)}`, seconds(deadline), ...argv],
  fired: (code, signal) => code === 124 || signal === "SIGKILL"
})

/** No external watchdog: only the in-process timeout applies. */
export const none: Watchdog = {
  name: "none",
  wrap: (argv) => argv,
  fired: () => false
}

/**
 * The watchdog for the `timeout` program at `file`: only GNU coreutils' (a
 * `timeout` binary, or the `coreutils` multi-call one) takes
 * `--kill-after` and exits 124. BusyBox's (Alpine) has other options and
 * keeps the command's exit status, so it counts as none.
 */
export const fromPath = (file: string): Watchdog => {
  try {
    const name = path.basename(fs.realpathSync(file))
    return name === "timeout" || name === "coreutils" ? coreutils(file) : none
  } catch {
    return none
  }
}

/** The best watchdog this machine has (looked up once per Tracer, when it is built). */
export const detect = (): Watchdog => {
  const file = findExecutable("timeout", process.env.PATH)
  return file === undefined ? none : fromPath(file)
}
