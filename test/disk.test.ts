/**
 * Disks and files under hostile conditions (issue 13, items 5-7): snapshot
 * modes whatever the umask, snapshots cut short by a full disk, and what a
 * failed or killed trace leaves behind.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Backtrace, EuStack, Gdb, Tracer, TracerConfig } from "../src/index.js"
import { FAKE_PTRACE } from "./support/backtrace.js"
import { noCooldown } from "./support/config.js"
import { smallCores } from "./support/cores.js"
import { tempDir } from "./support/temp.js"

/**
 * Why a small tmpfs cannot be mounted here, or undefined when it can: the
 * real full disk of these tests. Root on a Debian machine or VM can; a
 * container without CAP_SYS_ADMIN, or a non-root user, cannot.
 */
const tmpfsUnavailable = (): string | undefined => {
  if (process.getuid?.() !== 0) return "not root, so no tmpfs can be mounted"
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-test-probe-"))
  try {
    const mount = spawnSync("mount", ["-t", "tmpfs", "-o", "size=8k", "tmpfs", dir], { encoding: "utf8" })
    if (mount.status !== 0) return `mount -t tmpfs failed: ${(mount.stderr || mount.error?.message || "").trim()}`
    spawnSync("umount", [dir])
    return undefined
  } finally {
    fs.rmdirSync(dir)
  }
}

/** A tmpfs of `size` (e.g. `8k`) mounted on a fresh folder for the scope: a disk that fills up for real. */
const smallDisk = (size: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-test-disk-"))
      execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir])
      return dir
    }),
    (dir) =>
      Effect.sync(() => {
        execFileSync("umount", [dir])
        fs.rmdirSync(dir)
      })
  )

/** This process's umask is `mask` for the rest of the scope. */
const umask = (mask: number) =>
  Effect.acquireRelease(Effect.sync(() => process.umask(mask)), (saved) => Effect.sync(() => process.umask(saved)))

describe("snapshots are 0600 whatever the tracer's umask", () => {
  for (const runner of ["inline", "supervisor"] as const) {
    it.live(`Backtrace's snapshot under umask 022, ${runner} runner`, () =>
      Effect.gen(function*() {
        const outputDir = yield* tempDir
        yield* umask(0o022)
        const result = yield* Tracer.trace(new Error("mode")).pipe(
          Effect.provide(Backtrace.layer({ tracerPath: FAKE_PTRACE, outputDir })),
          Effect.provide(TracerConfig.layer({ rateLimit: 0, runner }))
        )
        const snapshot = Option.getOrThrow(result.snapshot)
        expect(fs.statSync(snapshot).mode & 0o7777).toBe(0o600)
      }).pipe(Effect.scoped))
  }
})

const noTmpfs = tmpfsUnavailable()

describe.skipIf(noTmpfs !== undefined)(
  `a snapshot cut short by a full disk (an 8 KiB tmpfs)${noTmpfs === undefined ? "" : `: SKIPPED, ${noTmpfs}`}`,
  () => {
    it.live("gdb: a TracerRunError naming the snapshot, kept and marked .partial", () =>
      Effect.gen(function*() {
        const dir = yield* smallDisk("8k")
        const error = yield* Effect.flip(
          Tracer.trace(new Error("disk full")).pipe(
            Effect.provide(Layer.merge(Gdb.live({ outputDir: dir, full: true }), noCooldown))
          )
        )
        const files = fs.readdirSync(dir)
        expect(error._tag).toBe("TracerRunError")
        expect(files).toHaveLength(1)
        expect(files[0]).toMatch(/\.txt\.partial$/)
        const partial = path.join(dir, files[0]!)
        expect(error.message).toContain(partial)
        expect((error as { leftBehind?: ReadonlyArray<string> }).leftBehind).toEqual([partial])
        expect(fs.readFileSync(partial, "utf8")).toContain("error:       disk full")
      }).pipe(Effect.scoped))

    it.live("eu-stack: a TracerRunError naming the snapshot, kept and marked .partial", () =>
      Effect.gen(function*() {
        const dir = yield* smallDisk("8k")
        const error = yield* Effect.flip(
          Tracer.trace(new Error("disk full")).pipe(
            Effect.provide(Layer.merge(EuStack.live({ outputDir: dir }), noCooldown))
          )
        )
        const files = fs.readdirSync(dir)
        expect(error._tag).toBe("TracerRunError")
        expect(files).toHaveLength(1)
        expect(files[0]).toMatch(/\.txt\.partial$/)
        expect(error.message).toContain(path.join(dir, files[0]!))
      }).pipe(Effect.scoped))
  }
)

describe("what a failed trace leaves behind", () => {
  const timedOut = (options: Gdb.Options) =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* smallCores
      // gdb needs well over 150 ms to load node's symbols and attach: the deadline passes before the core is done.
      const error = yield* Effect.flip(
        Tracer.trace(new Error("slow"), { timeout: "150 millis" }).pipe(
          Effect.provide(Layer.merge(Gdb.live({ outputDir: dir, core: true, ...options }), noCooldown))
        )
      )
      return { dir, error, files: fs.readdirSync(dir).sort() }
    })

  it.live("a timed-out gdb core trace removes its partial core and names the partial snapshot it keeps", () =>
    Effect.gen(function*() {
      const { dir, error, files } = yield* timedOut({})
      expect(error).toMatchObject({ _tag: "TraceTimeoutError", phase: "execution" })
      expect(files).toHaveLength(1)
      expect(files[0]).toMatch(/\.txt\.partial$/)
      expect(error.message).toBe(`Tracer execution timed out; left behind: ${path.join(dir, files[0]!)}`)
    }).pipe(Effect.scoped))

  it.live("keepPartialCores keeps the core, marked .partial, and names it", () =>
    Effect.gen(function*() {
      const { dir, error, files } = yield* timedOut({ keepPartialCores: true })
      expect(files).toHaveLength(2)
      expect(files[0]).toMatch(/\.core\.partial$/)
      expect(files[1]).toMatch(/\.txt\.partial$/)
      for (const file of files) expect(error.message).toContain(path.join(dir, file))
    }).pipe(Effect.scoped))

  it.live("an interrupted gdb trace keeps its snapshot marked .partial", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // Interrupted from outside after 100 ms: gdb is still loading symbols or attached.
      const outcome = yield* Tracer.trace(new Error("interrupted")).pipe(
        Effect.timeout("100 millis"),
        Effect.either,
        Effect.provide(Layer.merge(Gdb.live({ outputDir: dir }), noCooldown))
      )
      expect(outcome).toMatchObject({ _tag: "Left", left: { _tag: "TimeoutException" } })
      const files = fs.readdirSync(dir)
      expect(files).toHaveLength(1)
      expect(files[0]).toMatch(/\.txt\.partial$/)
    }).pipe(Effect.scoped))

  it.live("run folders of dead processes are removed when a Tracer starts; others are left alone", () =>
    Effect.gen(function*() {
      const namespace = /\[(\d+)\]/.exec(fs.readlinkSync("/proc/self/ns/pid"))![1]
      const dead = spawnSync("true").pid!
      const folder = (pid: number, files: ReadonlyArray<string>, ns = namespace) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `effect-bcd-run-${ns}-${pid}-`))
        for (const file of files) fs.writeFileSync(path.join(dir, file), "x")
        return dir
      }
      const gone = folder(dead, ["stdout", "stderr"])
      const kept = [
        folder(process.pid, ["stdout", "stderr"]), // alive: this process
        folder(dead, ["stderr", "server.1.2.txt"]), // holds something that is not ours
        folder(dead, ["stdout"], "1") // another pid namespace
      ]
      try {
        yield* Effect.scoped(Layer.build(Backtrace.layer({ tracerPath: FAKE_PTRACE, outputDir: yield* tempDir })))
        const until = Date.now() + 10_000
        while (fs.existsSync(gone) && Date.now() < until) yield* Effect.sleep("20 millis")
        expect(fs.existsSync(gone)).toBe(false)
        for (const dir of kept) expect(fs.existsSync(dir)).toBe(true)
      } finally {
        for (const dir of [gone, ...kept]) fs.rmSync(dir, { recursive: true, force: true })
      }
    }).pipe(Effect.scoped))
})
