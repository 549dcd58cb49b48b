/**
 * The external deadline. No in-process timer fires while this process is
 * ptrace-stopped, so a tracer that hangs while holding it stopped must be
 * killed from outside. This module keeps that behind one small interface.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import { findExecutable } from "./executable.js"

/** Wraps a tracer command so that something outside this process enforces the deadline. */
export interface Watchdog {
  readonly name: string
  /** The argv that runs `argv` under the deadline, killing its process group after `grace`. */
  readonly wrap: (argv: ReadonlyArray<string>, deadline: Duration.Duration, grace: Duration.Duration) => ReadonlyArray<string>
  /** Whether an exit means the watchdog killed the tracer. */
  readonly fired: (code: number | null, signal: NodeJS.Signals | null) => boolean
}

const seconds = (d: Duration.Duration) => `${Math.max(Duration.toMillis(d), 1) / 1000}s`

/**
 * coreutils `timeout`: it runs in the tracer's process group, exits 124 when
 * SIGTERM sufficed, and SIGKILLs its whole group (itself included) when not.
 */
export const coreutils = (path: string): Watchdog => ({
  name: "coreutils timeout",
  wrap: (argv, deadline, grace) => [path, `--kill-after=${seconds(grace)}`, seconds(deadline), ...argv],
  fired: (code, signal) => code === 124 || signal === "SIGKILL"
})

/** No external watchdog: only the in-process timeout applies. */
export const none: Watchdog = {
  name: "none",
  wrap: (argv) => argv,
  fired: () => false
}

let cached: Watchdog | undefined

/** The best watchdog this machine has, looked up once. */
export const detect = (): Watchdog => {
  if (cached === undefined) {
    const path = findExecutable("timeout", process.env.PATH)
    cached = path === undefined ? none : coreutils(path)
  }
  return cached
}
