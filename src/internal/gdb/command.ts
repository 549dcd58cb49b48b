/**
 * The gdb command line, as argv: never a shell string. Besides numbers, the
 * only data in gdb commands are paths under the output folder, validated when
 * the layer was built (no quotes, backslashes or control characters), and the
 * extra arguments of `Tracer.addOptions`, which are gdb arguments by design.
 * The error message, stack and attributes go into the snapshot's header,
 * which the backend writes itself (see gdbHeader.ts).
 *
 * @internal
 */
import * as Option from "effect/Option"

/** What the installed gdb can do, probed once when the layer is built. */
export interface Capabilities {
  /** `[major, minor]`, e.g. `[13, 1]`. */
  readonly version: readonly [number, number]
  /** gdb was built with Python (needed to find a thread by its LWP). */
  readonly python: boolean
}

/** Everything one gdb run needs. */
export interface Plan {
  readonly pid: number
  readonly tid: Option.Option<number>
  readonly faulted: boolean
  readonly callerOnly: boolean
  /** `bt full` instead of `bt`. */
  readonly full: boolean
  /** The snapshot file gdb appends to (it already holds the header). */
  readonly snapshot: string
  /** Where `generate-core-file` writes, when a core is wanted. */
  readonly core: Option.Option<string>
  /** Extra raw gdb arguments (`Tracer.addOptions`), run after the backtraces, before the end marker. */
  readonly args: ReadonlyArray<string>
}

/** The marker gdb prints after everything else: its absence means gdb was stopped early. */
export const END_MARKER = "==== end of gdb output ===="

/** Quits with status 2 when gdb could not attach (no thread to select). */
export const ATTACH_CHECK = `python gdb.selected_thread() is None and gdb.execute("quit 2")`

/** The gdb convenience variable the Python helper stores the thread's number in. */
const THREAD_VAR = "$bcd_thread"

const section = (title: string) => ["-ex", `echo \\n==== ${title} ====\\n`]

const ex = (...commands: ReadonlyArray<string>) => commands.flatMap((c) => ["-ex", c])

/**
 * How the thread with LWP `tid` is addressed in gdb commands: with Python,
 * a convenience variable set by looking it up; without, thread 1 when it is
 * the main thread (gdb numbers the attached thread group leader 1); else none.
 */
export const threadSelector = (
  caps: Capabilities,
  pid: number,
  tid: number
): { readonly setup: ReadonlyArray<string>; readonly id: string } | undefined => {
  if (caps.python) {
    const lookup = `python ts = [t for t in gdb.selected_inferior().threads() if t.ptid[1] == ${tid}]; ` +
      `gdb.set_convenience_variable("${THREAD_VAR.slice(1)}", ts[0].num) if ts ` +
      `else gdb.write("effect-bcd: no thread with LWP ${tid}\\n")`
    return { setup: ex(`set ${THREAD_VAR} = 0`, lookup), id: THREAD_VAR }
  }
  return tid === pid ? { setup: [], id: "1" } : undefined
}

/**
 * Writes the core file. With Python, only if the file exists: the backend
 * creates it (0600) with the lock held, and leaves it out when the core no
 * longer fits on the disk by then. (The path holds no quotes or backslashes.)
 */
const writeCore = (caps: Capabilities, core: string) =>
  caps.python
    ? `python __import__("os").path.exists("${core}") and gdb.execute("generate-core-file ${core}")`
    : `generate-core-file ${core}`

const loggingOn = (caps: Capabilities) => caps.version[0] >= 12 ? "set logging enabled on" : "set logging on"
const loggingOff = (caps: Capabilities) => caps.version[0] >= 12 ? "set logging enabled off" : "set logging off"

/** The argv after the gdb program itself. */
export const gdbArgs = (caps: Capabilities, plan: Plan): ReadonlyArray<string> => {
  const bt = plan.full ? "bt full" : "bt"
  const selector = Option.match(plan.tid, {
    onNone: () => undefined,
    onSome: (tid) => threadSelector(caps, plan.pid, tid)
  })
  const threads = plan.callerOnly && selector !== undefined
    ? [
      ...section(`backtrace: calling thread (LWP ${Option.getOrThrow(plan.tid)})`),
      ...ex(`thread apply ${selector.id} ${bt}`)
    ]
    : [...section("backtrace: all threads"), ...ex(`thread apply all ${bt}`)]
  return [
    "-nx",
    "-batch",
    // No downloads while this process is stopped; gdb 12+ knows the setting.
    ...(caps.version[0] >= 12 ? ["-iex", "set debuginfod enabled off"] : []),
    // Node's symbols are read before the attach, not while the process is stopped
    // (frozen time 725 -> 204 ms here); /proc/<pid>/exe is the running binary even if replaced on disk.
    `/proc/${plan.pid}/exe`,
    "-p",
    String(plan.pid),
    // A refused attach ends the run at once (exit 2), with gdb's reason alone on stderr.
    ...(caps.python ? ex(ATTACH_CHECK) : []),
    ...ex(
      "set width 0",
      "set height 0",
      "set pagination off",
      "set confirm off",
      `set logging file ${plan.snapshot}`,
      "set logging overwrite off",
      "set logging redirect on",
      loggingOn(caps)
    ),
    ...(selector?.setup ?? []),
    ...(plan.faulted && selector !== undefined ? ex(`thread ${selector.id}`) : []),
    ...section("info threads"),
    ...ex("info threads"),
    ...threads,
    ...Option.match(plan.core, {
      onNone: () => [],
      onSome: (core) => [...section("core file"), ...ex(writeCore(caps, core))]
    }),
    // Extra arguments run while gdb is attached and logging, so their output is in the snapshot.
    ...plan.args,
    "-ex",
    `echo \\n${END_MARKER}\\n`,
    ...ex(loggingOff(caps), "detach")
  ]
}

/** Reads the version and Python support off the probe's output. */
export const parseProbe = (stdout: string): Capabilities | undefined => {
  const match = /^GNU gdb .*?(\d+)\.(\d+)/m.exec(stdout)
  if (match === null) return undefined
  return { version: [Number(match[1]), Number(match[2])], python: stdout.includes(PYTHON_MARKER) }
}

/** Printed by the probe when gdb has Python. */
export const PYTHON_MARKER = "effect-bcd:python-ok"

/** The argv of the probe: the version, and whether Python runs. */
export const probeArgs: ReadonlyArray<string> = [
  "-nx",
  "-batch",
  "-ex",
  "show version",
  "-ex",
  `python print("${PYTHON_MARKER}")`
]
