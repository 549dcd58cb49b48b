/**
 * Naming the likely cause, and its fix, when the kernel refused a tracer's
 * ptrace (ARCHITECTURE.md, pitfall 8).
 *
 * @internal
 */
import { type PtraceFacts, ptraceFacts, refusals } from "./permissions.js"

/**
 * What gdb, Backtrace's ptrace and friends print when an attach fails with
 * EPERM; eu-stack (elfutils) also says `dwfl_linux_proc_report pid <n>:
 * Permission denied` when it may not even read the process's maps.
 */
const REFUSED =
  /operation not permitted|\bEPERM\b|could not attach|not permitted to attach|ptrace_scope|dwfl_linux_proc_\w+ pid \d+: permission denied/i

/** The hint for `stderr` given `facts`, or undefined when the attach was not refused. Pure. */
export const hintFor = (stderr: string, facts: PtraceFacts): string | undefined => {
  if (!REFUSED.test(stderr)) return undefined
  const [cause] = refusals(facts)
  if (cause !== undefined) return `ptrace was refused: ${cause}`
  return facts.tracerCapSysPtrace
    ? "ptrace was refused although a tracer started by this process inherits CAP_SYS_PTRACE: check that it runs as" +
      " this user and keeps the capability, and that no seccomp profile or LSM (AppArmor, SELinux) forbids ptrace"
    : "ptrace was refused: without CAP_SYS_PTRACE the tracer must run as this process's user and the process must be" +
      " dumpable; in a container add the capability (docker run --cap-add=SYS_PTRACE)"
}

/** A sentence naming the cause and the fix, when `stderr` says ptrace was refused. */
export const ptraceHint = (stderr: string): string | undefined =>
  REFUSED.test(stderr) ? hintFor(stderr, ptraceFacts()) : undefined
