/**
 * The pre-flight for `effect-bcd trace <pid>`: the process exists, is not
 * already traced, and the kernel would let our tracer attach to it (same
 * user or `CAP_SYS_PTRACE`, Yama). A refusal names its cause; Yama scope 1
 * is only a warning, since the target may have allowed us with `prctl`.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { parseStatus, ptraceFacts } from "../os/permissions.js"
import { type CliError, failed, usage } from "./exit.js"

/** A process we may try to trace. */
export interface Target {
  readonly pid: number
  /** Its command name (`/proc/<pid>/comm`). */
  readonly name: string
  /** Causes that may still refuse the attach. */
  readonly warnings: ReadonlyArray<string>
}

/** Checks `pid` as a target, reading `/proc`. */
export const inspect = (pid: number): Either.Either<Target, CliError> => {
  if (!Number.isSafeInteger(pid) || pid <= 0) return Either.left(usage(`${pid} is not a process id`))
  let status: Map<string, string>
  try {
    status = parseStatus(fs.readFileSync(`/proc/${pid}/status`, "utf8"))
  } catch {
    return Either.left(usage(`no process ${pid}`))
  }
  const tgid = Number(status.get("Tgid"))
  if (tgid !== pid) return Either.left(usage(`${pid} is a thread of process ${tgid}; give the process id`))
  if ((status.get("State") ?? "").startsWith("Z")) return Either.left(failed(`process ${pid} has exited (a zombie)`))
  const tracer = Number(status.get("TracerPid"))
  if (tracer > 0) {
    return Either.left(
      failed(`process ${pid} is already traced by process ${tracer} (a debugger); a process has one tracer at a time`)
    )
  }
  const facts = ptraceFacts()
  const scope = Option.getOrElse(facts.ptraceScope, () => 0)
  const owners = (status.get("Uid") ?? "").split(/\s+/).slice(0, 3)
  const euid = process.geteuid?.() ?? -1
  if (!facts.tracerCapSysPtrace && owners.some((uid) => Number(uid) !== euid)) {
    return Either.left(
      failed(
        `may not trace process ${pid}: it runs as uid ${owners[1]} and this command as uid ${euid}, without` +
          ` CAP_SYS_PTRACE; run it as that user or as root`
      )
    )
  }
  if (scope >= 3) return Either.left(failed("may not trace: Yama ptrace_scope is 3 (no attaching until reboot)"))
  if (scope === 2 && !facts.tracerCapSysPtrace) {
    return Either.left(
      failed("may not trace: Yama ptrace_scope is 2 and this command lacks CAP_SYS_PTRACE; run as root")
    )
  }
  const warnings = scope === 1 && !facts.tracerCapSysPtrace
    ? [
      `Yama ptrace_scope is 1: the attach works only if process ${pid} allowed it (Tracer.enableTracing,` +
      ` prctl PR_SET_PTRACER), else run as root or 'sysctl -w kernel.yama.ptrace_scope=0'`
    ]
    : []
  let name = "process"
  try {
    name = fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() || name
  } catch {
    // gone in between: the tracer will say so
  }
  return Either.right({ pid, name, warnings })
}
