/**
 * Naming the likely cause when the kernel refused a tracer's ptrace.
 *
 * @internal
 */
import * as fs from "node:fs"

const REFUSED = /ptrace|Operation not permitted|EPERM|not permitted to attach|could not attach/i

/** The Yama `ptrace_scope`, or undefined where Yama is absent. */
export const yamaScope = (): number | undefined => {
  try {
    return Number(fs.readFileSync("/proc/sys/kernel/yama/ptrace_scope", "utf8").trim())
  } catch {
    return undefined
  }
}

/** A sentence naming the cause and the fix, when `stderr` says ptrace was refused. */
export const ptraceHint = (stderr: string): string | undefined => {
  if (!REFUSED.test(stderr)) return undefined
  const scope = yamaScope()
  if (scope !== undefined && scope >= 1) {
    return `ptrace was refused: Yama ptrace_scope is ${scope}; call Tracer.enableTracing` +
      ` or run 'sysctl kernel.yama.ptrace_scope=0'${scope >= 2 ? " (scope 2 or 3 needs CAP_SYS_PTRACE or a reboot)" : ""}`
  }
  return "ptrace was refused: in a container, add the SYS_PTRACE capability (docker run --cap-add=SYS_PTRACE)"
}
