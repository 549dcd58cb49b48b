/**
 * The eu-stack command line, as argv (never a shell string): numbers, fixed
 * flags, and the extra arguments of `Tracer.addOptions`, which are eu-stack
 * arguments by design. The error message, stack and attributes go into the
 * snapshot's header, which the backend writes itself.
 *
 * @internal
 */
import * as Option from "effect/Option"

/** What one eu-stack run needs. */
export interface Plan {
  readonly pid: number
  readonly tid: Option.Option<number>
  readonly callerOnly: boolean
  /** Extra raw eu-stack arguments (`Tracer.addOptions`), before `-p`. */
  readonly args: ReadonlyArray<string>
}

/**
 * Each frame's module (`-m`) and the module's build id, load address and pc
 * offset (`-b`): enough to symbolicate a frame elsewhere, with the binary of
 * that build id. No DWARF lookups (`-d`, `-i`, `-s`): they make the run
 * longer. Names are looked up after eu-stack has let each thread go (it
 * collects a thread's pcs, detaches, then prints), so these flags lengthen
 * the trace, not any thread's stop.
 */
export const FLAGS: ReadonlyArray<string> = ["-m", "-b"]

/** Whether `callerOnly` can be honoured: the calling thread's id is known. */
export const callerOnlyThread = (plan: Pick<Plan, "callerOnly" | "tid">): Option.Option<number> =>
  plan.callerOnly ? plan.tid : Option.none()

/**
 * The argv after the program: every thread of `pid`, or with `callerOnly`
 * the calling thread alone (`-1 -p <tid>`: eu-stack reads the thread's
 * process and stops that thread only).
 */
export const euStackArgs = (plan: Plan): ReadonlyArray<string> =>
  Option.match(callerOnlyThread(plan), {
    onNone: () => [...FLAGS, ...plan.args, "-p", String(plan.pid)],
    onSome: (tid) => [...FLAGS, ...plan.args, "-1", "-p", String(tid)]
  })

/** `[major, minor]` from `eu-stack --version` (`eu-stack (elfutils) 0.188`), if it answers like eu-stack. */
export const parseVersion = (stdout: string): readonly [number, number] | undefined => {
  const match = /^eu-stack \(elfutils\) (\d+)\.(\d+)/m.exec(stdout)
  return match === null ? undefined : [Number(match[1]), Number(match[2])]
}
