/**
 * Permission to ptrace this process: the Yama `ptrace_scope`,
 * `CAP_SYS_PTRACE`, `prctl(PR_SET_PTRACER)` (Go's `EnableTracing`) and the
 * tracer binary. See ARCHITECTURE.md, pitfall 8.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { EnableTracingError } from "../../TraceError.js"
import type { Permissions, Tracer } from "../../Tracer.js"
import { findExecutable } from "../core/executable.js"

const CAP_SYS_PTRACE = 19n
const PR_SET_PTRACER = 0x59616d61
const PR_SET_PTRACER_ANY = 0xffffffffffffffffn
const EINVAL = 22

/** The facts that decide whether a ptrace attach is allowed, without the tracer binary. */
export type PtraceFacts = Omit<Permissions, "tracer" | "tracerPath" | "refused" | "reasons">

interface PtraceState {
  ptracerAny: boolean
}

const ptraceState: PtraceState = globalValue(Symbol.for("effect-bcd/internal/permissions"), () => ({
  ptracerAny: false
}))

/** The Yama `ptrace_scope`, or `None` where Yama is absent. */
export const yamaScope = (): Option.Option<number> => {
  try {
    const scope = Number(fs.readFileSync("/proc/sys/kernel/yama/ptrace_scope", "utf8").trim())
    return Number.isInteger(scope) ? Option.some(scope) : Option.none()
  } catch {
    return Option.none()
  }
}

/** The fields of a `/proc/<pid>/status` text, by name. */
export const parseStatus = (text: string): Map<string, string> =>
  new Map(
    text.split("\n").map((line) => {
      const colon = line.indexOf(":")
      return [line.slice(0, colon), line.slice(colon + 1).trim()] as const
    })
  )

/** The fields of `/proc/self/status`. */
const status = (): Map<string, string> => {
  try {
    return parseStatus(fs.readFileSync("/proc/self/status", "utf8"))
  } catch {
    return new Map()
  }
}

const hasCap = (mask: string | undefined): boolean =>
  mask !== undefined && /^[0-9a-f]+$/i.test(mask) && ((BigInt(`0x${mask}`) >> CAP_SYS_PTRACE) & 1n) === 1n

/** Reads the facts off `/proc`. */
export const ptraceFacts = (): PtraceFacts => {
  const fields = status()
  const euid = Number(fields.get("Uid")?.split(/\s+/)[1])
  const tracer = Number(fields.get("TracerPid"))
  return {
    ptraceScope: yamaScope(),
    capSysPtrace: hasCap(fields.get("CapEff")),
    tracerCapSysPtrace: euid === 0 ? hasCap(fields.get("CapBnd")) : hasCap(fields.get("CapAmb")),
    ptracerAny: ptraceState.ptracerAny,
    tracedBy: Number.isInteger(tracer) && tracer > 0 ? Option.some(tracer) : Option.none()
  }
}

/** Why the kernel would refuse the tracer's attach, each cause with its fix. Pure. */
export const refusals = (facts: PtraceFacts): ReadonlyArray<string> => {
  const reasons: Array<string> = []
  const scope = Option.getOrElse(facts.ptraceScope, () => 0)
  if (Option.isSome(facts.tracedBy)) {
    reasons.push(
      `process ${facts.tracedBy.value} (a debugger) is already tracing this process; a process has one tracer at a time`
    )
  }
  if (scope >= 3) {
    reasons.push("Yama ptrace_scope is 3: no process may attach until the next reboot")
  } else if (scope === 2 && !facts.tracerCapSysPtrace) {
    reasons.push(
      "Yama ptrace_scope is 2: only a tracer with CAP_SYS_PTRACE may attach (run as root, or docker run --cap-add=SYS_PTRACE)"
    )
  } else if (scope === 1 && !facts.tracerCapSysPtrace && !facts.ptracerAny) {
    reasons.push(
      "Yama ptrace_scope is 1: a child may not attach to its parent; call Tracer.enableTracing first," +
        " or run 'sysctl -w kernel.yama.ptrace_scope=0'"
    )
  }
  return reasons
}

/** A pre-flight check for `tracer`: Yama, capabilities, the tracer binary. Builds no command, has no side effects. */
export const check = (tracer: Tracer): Effect.Effect<Permissions> =>
  Effect.sync(() => {
    const program = tracer.backend.program
    const tracerPath = Option.fromNullable(findExecutable(program, process.env.PATH))
    const facts = ptraceFacts()
    const reasons = [
      ...(Option.isNone(tracerPath) ? [`the tracer ${program} is not found or not executable`] : []),
      ...refusals(facts)
    ]
    return { ...facts, tracer: program, tracerPath, refused: reasons.length > 0, reasons }
  })

/** The part of koffi this module uses. */
interface Koffi {
  readonly load: (path: string | null) => {
    readonly func: (signature: string) => (...args: ReadonlyArray<unknown>) => number
  }
  readonly errno: () => number
}

/** The FFI module's name; a variable so that TypeScript and bundlers leave the optional import alone. */
export const FFI_MODULE = { name: "koffi" }

const loadFfi = Effect.tryPromise({
  try: async (): Promise<Koffi> => {
    const module = await import(FFI_MODULE.name)
    return (module.default ?? module) as Koffi
  },
  catch: (error) =>
    new EnableTracingError({
      reason: "ffi-unavailable",
      detail: error instanceof Error ? error.message : String(error)
    })
})

const loadLibc = (koffi: Koffi): ReturnType<Koffi["load"]> => {
  for (const name of ["libc.so.6", null]) {
    try {
      return koffi.load(name)
    } catch {
      // try the next name (musl, or the main program)
    }
  }
  throw new Error("cannot load the C library")
}

const prctl = (koffi: Koffi): (option: number, arg: bigint) => number => {
  const fn = loadLibc(koffi).func(
    "int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)"
  )
  return (option, arg) => fn(option, arg, 0, 0, 0)
}

/** `sigaction(2)` on raw `struct sigaction` buffers (null for NULL); returns 0 on success. */
export type Sigaction = (signal: number, action: Buffer | null, previous: Buffer | null) => number

/**
 * `sigaction(2)` through koffi, on 64-bit Linux (where `struct sigaction` is
 * 152 bytes with `sa_flags` at offset 136, in glibc and musl alike); `None`
 * elsewhere or without koffi.
 */
export const loadSigaction: Effect.Effect<Option.Option<Sigaction>> = Effect.suspend(() =>
  process.platform === "linux" && (process.arch === "x64" || process.arch === "arm64")
    ? Effect.option(
      Effect.flatMap(
        loadFfi,
        (koffi) =>
          Effect.try(() =>
            loadLibc(koffi).func("int sigaction(int signum, const void *act, void *oldact)") as Sigaction
          )
      )
    )
    : Effect.succeedNone
)

/**
 * Go's `EnableTracing`: `prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY)`, which
 * lets any process (the tracer, our child) attach under Yama scope 1. Where
 * Yama is absent the kernel answers EINVAL: nothing restricts attaching, and
 * that counts as success.
 */
export const enableTracing: Effect.Effect<void, EnableTracingError> = Effect.suspend(() => {
  if (process.platform !== "linux") {
    return Effect.fail(
      new EnableTracingError({ reason: "unsupported-platform", detail: `this is ${process.platform}` })
    )
  }
  return Effect.flatMap(loadFfi, (koffi) =>
    Effect.try({
      try: () => {
        const result = prctl(koffi)(PR_SET_PTRACER, PR_SET_PTRACER_ANY)
        const errno = result === 0 ? 0 : koffi.errno()
        if (result === 0) ptraceState.ptracerAny = true
        else if (!(errno === EINVAL && Option.isNone(yamaScope()))) throw new Error(`errno ${errno}`)
      },
      catch: (error) =>
        new EnableTracingError({
          reason: "prctl-failed",
          detail: error instanceof Error ? error.message : String(error)
        })
    }))
})
