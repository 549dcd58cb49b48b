/**
 * Small backends the core tests run against: each is a plain value, as a
 * user would write one. Scripts are fixed strings; data goes in as argv.
 */
import * as Command from "@effect/platform/Command"
import * as Option from "effect/Option"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as TraceOptions from "../../src/TraceOptions.js"
import type { TracerBackend, TraceRequest } from "../../src/TracerBackend.js"

/** A `TraceRequest` for pure tests of a backend: no thread, no error, fiber 7; `overrides` win. */
export const traceRequest = (overrides: Partial<TraceRequest> = {}): TraceRequest => ({
  pid: 4242,
  tid: Option.none(),
  faulted: false,
  callerOnly: false,
  fiberId: 7,
  error: Option.none(),
  cause: Option.none(),
  classifiers: [],
  attributes: [],
  args: [],
  base: [],
  ...overrides
})

/** A backend that runs `sh -c script sh <args...>`. */
export const shBackend = (
  script: string,
  args: (req: TraceRequest) => ReadonlyArray<string> = () => [],
  overrides: Partial<TracerBackend> = {}
): TracerBackend => ({
  name: "sh-test",
  program: "sh",
  defaultTraceOptions: { ...TraceOptions.defaults, timeout: "20 seconds" },
  command: (req) => Command.make("sh", "-c", script, "sh", ...args(req)),
  ...overrides
})

/** Appends `start <ns>` and `end <ns>` lines to `log` around a short pause. */
export const recordingBackend = (log: string, pause = "0") =>
  shBackend(
    "echo \"start $(date +%s%N)\" >> \"$1\"; sleep \"$2\"; echo \"end $(date +%s%N)\" >> \"$1\"",
    () => [log, pause]
  )

/** Writes its argv, one per line, to stdout. */
export const argvBackend = (overrides: Partial<TracerBackend> = {}) =>
  shBackend("for a in \"$@\"; do printf \"%s\\n\" \"$a\"; done", (req) => [
    `pid=${req.pid}`,
    `fiber=${req.fiberId}`,
    ...req.classifiers.map((c) => `classifier=${c}`),
    ...req.attributes.map(([k, v]) => `kv=${k}:${v}`),
    ...req.args.map((a) => `arg=${a}`)
  ], overrides)

/** Parses the `start`/`end` lines written by {@link recordingBackend}. */
export const readRecord = (log: string): Array<{ kind: "start" | "end"; ns: bigint }> =>
  fs.existsSync(log)
    ? fs.readFileSync(log, "utf8").trim().split("\n").filter(Boolean).map((line) => {
      const [kind, ns] = line.split(" ")
      return { kind: kind as "start" | "end", ns: BigInt(ns!) }
    })
    : []

/** Whether a process exists and is not a zombie waiting to be reaped. */
export const alive = (pid: number) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
  } catch {
    return false
  }
}

/** Polls until `pid` is gone, for at most `ms`; returns whether it went. */
export const gone = async (pid: number, ms = 1000) => {
  const until = Date.now() + ms
  while (alive(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
  return !alive(pid)
}

/**
 * Writes `<dir>/<program>-as-nobody`: a script that runs `program` (found on
 * `PATH`) as user nobody through setpriv, so that the kernel really refuses
 * its ptrace of this root process. Returns the script's path.
 */
export const asNobody = (dir: string, program: string): string => {
  const wrapper = path.join(dir, `${program}-as-nobody`)
  const found = execFileSync("sh", ["-c", "command -v \"$1\"", "sh", program], { encoding: "utf8" }).trim()
  fs.writeFileSync(
    wrapper,
    `#!/bin/sh\nexec /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups ${found} "$@"\n`,
    { mode: 0o755 }
  )
  return wrapper
}
