import * as Command from "@effect/platform/Command"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { TraceOptions, Tracer } from "../src/index.js"
import { hintFor } from "../src/internal/os/hint.js"
import { type PtraceFacts, refusals } from "../src/internal/os/permissions.js"
import { fixture } from "./support/child.js"
import { noCooldown } from "./support/config.js"
import { tempDir } from "./support/temp.js"

/** Read independently of the library: `/proc/self/status`. */
const statusField = (name: string) =>
  fs.readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(`${name}:`))!.split(":")[1]!.trim()
const capBit = (mask: string, bit: number) => (BigInt(`0x${mask}`) & (1n << BigInt(bit))) !== 0n
const yama = fs.existsSync("/proc/sys/kernel/yama/ptrace_scope")
  ? Option.some(Number(fs.readFileSync("/proc/sys/kernel/yama/ptrace_scope", "utf8")))
  : Option.none()

const backend = (program: string) => ({
  name: "check",
  program,
  defaultTraceOptions: TraceOptions.defaults,
  command: () => Command.make(program, "--version")
})

const which = (program: string) => {
  try {
    return execFileSync("sh", ["-c", "command -v \"$1\"", "sh", program], { encoding: "utf8" }).trim()
  } catch {
    return ""
  }
}

describe("Tracer.checkPermissions", () => {
  it.effect("reports this machine's Yama scope, CAP_SYS_PTRACE and a real tracer binary", () =>
    Effect.gen(function*() {
      const report = yield* Tracer.checkPermissions
      expect(report.ptraceScope).toEqual(yama)
      expect(report.capSysPtrace).toBe(capBit(statusField("CapEff"), 19))
      expect(report.tracer).toBe("sh")
      expect(report.tracerPath).toEqual(Option.some(which("sh")))
      fs.accessSync(Option.getOrThrow(report.tracerPath), fs.constants.X_OK)
      expect(report.tracedBy).toEqual(Option.none())
      // Here (no Yama or scope 0, nobody else tracing) nothing stands in the way.
      if (Option.getOrElse(yama, () => 0) === 0) {
        expect(report.reasons).toEqual([])
        expect(report.refused).toBe(false)
      }
    }).pipe(Effect.provide(Tracer.layer(backend("sh")))))

  it.effect("a missing tracer binary means refused, naming the path", () =>
    Effect.gen(function*() {
      const report = yield* Tracer.checkPermissions
      expect(report.tracerPath).toEqual(Option.none())
      expect(report.refused).toBe(true)
      expect(report.reasons).toContain("the tracer /opt/nowhere/bin/ptrace is not found or not executable")
    }).pipe(Effect.provide(Tracer.layer(backend("/opt/nowhere/bin/ptrace")))))

  const facts = (over: Partial<PtraceFacts>): PtraceFacts => ({
    ptraceScope: Option.none(),
    capSysPtrace: false,
    tracerCapSysPtrace: false,
    ptracerAny: false,
    tracedBy: Option.none(),
    ...over
  })

  it("names each cause of a refusal, with its fix", () => {
    const table: ReadonlyArray<readonly [Partial<PtraceFacts>, RegExp | undefined]> = [
      [{}, undefined],
      [{ ptraceScope: Option.some(0) }, undefined],
      [
        { ptraceScope: Option.some(1) },
        /ptrace_scope is 1.*Tracer\.enableTracing.*sysctl -w kernel\.yama\.ptrace_scope=0/
      ],
      [{ ptraceScope: Option.some(1), ptracerAny: true }, undefined],
      [{ ptraceScope: Option.some(1), tracerCapSysPtrace: true }, undefined],
      [{ ptraceScope: Option.some(2) }, /ptrace_scope is 2.*CAP_SYS_PTRACE.*--cap-add=SYS_PTRACE/],
      [{ ptraceScope: Option.some(2), tracerCapSysPtrace: true }, undefined],
      [{ ptraceScope: Option.some(3), tracerCapSysPtrace: true }, /ptrace_scope is 3.*reboot/],
      [{ tracedBy: Option.some(42) }, /process 42 .*already tracing/]
    ]
    for (const [over, expected] of table) {
      const reasons = refusals(facts(over))
      if (expected === undefined) expect(reasons).toEqual([])
      else expect(reasons.join(" ")).toMatch(expected)
    }
  })

  it("hints only when stderr says ptrace was refused", () => {
    const gdb = "ptrace: Operation not permitted.\nCould not attach to process."
    expect(hintFor("No symbol table is loaded.", facts({}))).toBeUndefined()
    expect(hintFor(gdb, facts({ ptraceScope: Option.some(1) }))).toMatch(/^ptrace was refused: Yama ptrace_scope is 1/)
    expect(hintFor(gdb, facts({}))).toMatch(/without CAP_SYS_PTRACE.*--cap-add=SYS_PTRACE/)
    expect(hintFor(gdb, facts({ tracerCapSysPtrace: true }))).toMatch(/seccomp/)
  })

  const gdbPath = which("gdb")
  const setpriv = which("setpriv")
  it.live.skipIf(gdbPath === "" || setpriv === "")(
    "a real refused attach (gdb as nobody against this root process) is a TracerRunError with the hint",
    () =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Tracer.trace(new Error("refused")))
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit) && exit.cause._tag === "Fail" && exit.cause.error._tag === "TracerRunError") {
          const error = exit.cause.error
          expect(error.stderr).toMatch(/Operation not permitted/)
          expect(error.hint).toMatch(/^ptrace was refused/)
          expect(error.message).toContain(error.hint!)
        } else expect.fail(`expected a TracerRunError, got ${String(exit)}`)
      }).pipe(
        Effect.provide(Tracer.layer({
          name: "gdb-as-nobody",
          program: setpriv,
          defaultTraceOptions: { ...TraceOptions.defaults, timeout: "30 seconds" },
          command: (request) =>
            Command.make(
              setpriv,
              "--reuid=65534",
              "--regid=65534",
              "--clear-groups",
              gdbPath,
              "-nx",
              "-batch",
              "-p",
              String(request.pid)
            ).pipe(Command.env({ HOME: "/nonexistent" }))
        })),
        Effect.provide(noCooldown)
      )
  )
})

describe("Tracer.enableTracing", () => {
  it.live("calls prctl through koffi; without Yama the kernel's EINVAL counts as success", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Tracer.enableTracing)
      expect(exit).toEqual(Exit.void)
      // PR_SET_PTRACER_ANY took effect only where Yama exists; elsewhere there was nothing to allow.
      const report = yield* Tracer.checkPermissions
      expect(report.ptracerAny).toBe(Option.isSome(yama))
    }).pipe(Effect.provide(Tracer.layer(backend("sh")))))

  it.live("without koffi fails with EnableTracingError naming the sysctl alternative", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const hide = path.resolve(import.meta.dirname, "fixtures/hide-koffi.mjs")
      const child = yield* fixture("enable-tracing", {}, { cwd: dir, imports: [hide] })
      const result = yield* child.line((l) => "ok" in l)
      expect(result.ok).toBe(false)
      expect(result.tag).toBe("EnableTracingError")
      expect(result.reason).toBe("ffi-unavailable")
      expect(result.message).toMatch(/koffi/)
      expect(result.message).toMatch(/sysctl -w kernel\.yama\.ptrace_scope=0/)
      expect(yield* child.exit).toEqual({ code: 0, signal: null })
    }).pipe(Effect.scoped))

  it.live("with koffi in a child: succeeds (the control for the test above)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const child = yield* fixture("enable-tracing", {}, { cwd: dir })
      const result = yield* child.line((l) => "ok" in l)
      expect(result).toEqual({ ok: true })
    }).pipe(Effect.scoped))
})
