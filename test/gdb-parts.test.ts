/**
 * The gdb backend's pure parts: argv rendering, probe parsing, the header,
 * thread roles, and the perf-map rewrite (on files written here).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Gdb } from "../src/index.js"
import { loadConfig as load } from "../src/internal/core/config.js"
import {
  ATTACH_CHECK,
  type Capabilities,
  END_MARKER,
  gdbArgs,
  parseProbe,
  type Plan
} from "../src/internal/gdb/command.js"
import { anonymousBytes, diskSpace, estimateCoreSize, reserve, skipReason } from "../src/internal/gdb/core.js"
import { rewrite, unnamedAddresses } from "../src/internal/gdb/finalize.js"
import * as Header from "../src/internal/gdb/header.js"
import { sanitizeProgram, timestamp } from "../src/internal/snapshot/file.js"
import { openPerfMap, resolvePerfMap } from "../src/internal/snapshot/perfMap.js"
import { threadRole } from "../src/internal/snapshot/threads.js"
import type { TraceRequest } from "../src/TracerBackend.js"
import { traceRequest } from "./support/backends.js"
import { testTempDir } from "./support/temp.js"

const gdb13: Capabilities = { version: [13, 1], python: true }
const gdb13NoPython: Capabilities = { version: [13, 1], python: false }
const gdb10: Capabilities = { version: [10, 1], python: true }

const plan = (overrides: Partial<Plan> = {}): Plan => ({
  pid: 100,
  tid: Option.some(100),
  faulted: true,
  callerOnly: false,
  full: false,
  snapshot: "/out/app.100.t.txt",
  core: Option.none(),
  args: [],
  ...overrides
})

/** The gdb commands (`-ex` values), in order. */
const commands = (argv: ReadonlyArray<string>) => argv.flatMap((a, i) => (argv[i - 1] === "-ex" ? [a] : []))

describe("gdbArgs", () => {
  it("attaches in batch mode without init files, logging to the snapshot, detaching last", () => {
    const argv = gdbArgs(gdb13, plan())
    expect(argv.slice(0, 2)).toEqual(["-nx", "-batch"])
    expect(argv).toContain("-p")
    expect(argv[argv.indexOf("-p") + 1]).toBe("100")
    // The executable comes first, so gdb reads its symbols before it stops the process.
    expect(argv[argv.indexOf("-p") - 1]).toBe("/proc/100/exe")
    const cmds = commands(argv)
    expect(cmds).toContain("set logging file /out/app.100.t.txt")
    expect(cmds).toContain("set logging overwrite off")
    expect(cmds).toContain("set logging redirect on")
    expect(cmds.indexOf("set logging enabled on")).toBeLessThan(cmds.indexOf("info threads"))
    expect(cmds).toContain("thread apply all bt")
    expect(cmds.at(-1)).toBe("detach")
    expect(argv[argv.indexOf("-iex") + 1]).toBe("set debuginfod enabled off")
  })

  it.each(
    [
      ["full", plan({ full: true }), gdb13, "thread apply all bt full"],
      [
        "callerOnly with Python",
        plan({ callerOnly: true, tid: Option.some(123) }),
        gdb13,
        "thread apply $bcd_thread bt"
      ],
      ["callerOnly, main thread, no Python", plan({ callerOnly: true }), gdb13NoPython, "thread apply 1 bt"],
      [
        "callerOnly, other thread, no Python",
        plan({ callerOnly: true, tid: Option.some(123) }),
        gdb13NoPython,
        "thread apply all bt"
      ],
      ["callerOnly, tid unknown", plan({ callerOnly: true, tid: Option.none() }), gdb13, "thread apply all bt"]
    ] as const
  )("%s -> %s", (_name, p, caps, expected) => {
    const cmds = commands(gdbArgs(caps, p))
    expect(cmds).toContain(expected)
    expect(cmds.filter((c) => c.startsWith("thread apply"))).toHaveLength(1)
  })

  it("finds a thread by LWP with Python, and selects the faulted one before info threads", () => {
    const cmds = commands(gdbArgs(gdb13, plan({ tid: Option.some(123) })))
    const lookup = cmds.find((c) => c.startsWith("python ") && c.includes("ptid"))!
    expect(lookup).toContain("t.ptid[1] == 123")
    expect(cmds.indexOf("thread $bcd_thread")).toBeGreaterThan(cmds.indexOf(lookup))
    expect(cmds.indexOf("thread $bcd_thread")).toBeLessThan(cmds.indexOf("info threads"))
    expect(commands(gdbArgs(gdb13, plan({ tid: Option.some(123), faulted: false })))).not.toContain(
      "thread $bcd_thread"
    )
  })

  it("writes a core file when asked, after the backtraces; with Python only if its file exists", () => {
    const core = Option.some("/out/app.100.t.core")
    const withPython = commands(gdbArgs(gdb13, plan({ core })))
    const guarded =
      `python __import__("os").path.exists("/out/app.100.t.core") and gdb.execute("generate-core-file /out/app.100.t.core")`
    expect(withPython.indexOf(guarded)).toBeGreaterThan(withPython.indexOf("thread apply all bt"))
    const without = commands(gdbArgs(gdb13NoPython, plan({ core })))
    expect(without.indexOf("generate-core-file /out/app.100.t.core")).toBeGreaterThan(
      without.indexOf("thread apply all bt")
    )
  })

  it("with Python, ends the run right after a refused attach", () => {
    expect(commands(gdbArgs(gdb13, plan()))[0]).toBe(ATTACH_CHECK)
    expect(commands(gdbArgs(gdb13NoPython, plan()))).not.toContain(ATTACH_CHECK)
  })

  it("uses gdb 10's logging syntax and no debuginfod setting on old gdb", () => {
    const argv = gdbArgs(gdb10, plan())
    expect(commands(argv)).toContain("set logging on")
    expect(commands(argv)).toContain("set logging off")
    expect(argv).not.toContain("-iex")
  })

  it("runs extra arguments attached and logging, before the end marker, and puts no newline in any argument", () => {
    const argv = gdbArgs(gdb13, plan({ args: ["-ex", "info sharedlibrary"] }))
    const cmds = commands(argv)
    expect(cmds.indexOf("info sharedlibrary")).toBeGreaterThan(cmds.indexOf("thread apply all bt"))
    expect(cmds.indexOf("info sharedlibrary")).toBeLessThan(cmds.findIndex((c) => c.includes("end of gdb output")))
    for (const arg of argv) expect(arg).not.toMatch(/[\n\r\0]/)
  })
})

describe("parseProbe", () => {
  it.each(
    [
      ["GNU gdb (Debian 13.1-3) 13.1\nCopyright …\neffect-bcd:python-ok\n", { version: [13, 1], python: true }],
      ["GNU gdb (Ubuntu 12.1-0ubuntu1~22.04.2) 12.1\n", { version: [12, 1], python: false }],
      ["GNU gdb (GDB) 15.2\neffect-bcd:python-ok", { version: [15, 2], python: true }],
      ["true\n", undefined],
      ["", undefined]
    ] as const
  )("%j", (stdout, expected) => {
    expect(parseProbe(stdout)).toEqual(expected)
  })
})

const request = (overrides: Partial<TraceRequest> = {}): TraceRequest =>
  traceRequest({ pid: 42, tid: Option.some(43), faulted: true, ...overrides })

const info: Header.HeaderInfo = {
  time: new Date("2026-11-26T04:19:39.123Z"),
  program: "app",
  core: Option.none(),
  coreSkipped: Option.none(),
  callerOnlyFallback: Option.none()
}

describe("header", () => {
  it("names the process, thread, fiber, error, classifiers and attributes", () => {
    const error = new Error("disk full")
    const text = Header.render(
      request({
        error: Option.some("disk full"),
        cause: Option.some(error),
        classifiers: ["Error", "io"],
        attributes: [["error", "disk full"], ["user", "ann"]]
      }),
      { ...info, core: Option.some("/out/app.42.t.core") }
    )
    expect(text).toMatch(/^effect-bcd snapshot \(gdb\)\n/)
    expect(text).toContain("time:        2026-11-26T04:19:39.123Z")
    expect(text).toContain("pid:         42")
    expect(text).toContain("faulted tid: 43")
    expect(text).toContain("fiber:       #7")
    expect(text).toContain("error:       disk full")
    expect(text).toContain("classifiers: Error, io")
    expect(text).toContain("attributes:\n  error: disk full\n  user: ann\n")
    expect(text).toContain("core file:   /out/app.42.t.core")
    expect(text).toContain(`stack:\n  Error: disk full\n      at `)
  })

  it("escapes control characters and indents continuation lines", () => {
    const text = Header.render(
      request({ error: Option.some("a\u0000b\u001b[31m\nsecond line"), attributes: [["k\n", "v\u0007"]] }),
      info
    )
    expect(text).toContain("error:       a\\x00b\\x1b[31m\n  second line")
    expect(text).toContain("  k\n  : v\\x07")
    expect(text).not.toMatch(/[\u0000\u0007\u001b]/)
  })

  it("renders Cause.pretty for a Cause and for a defect without a stack", () => {
    const fromCause = Header.render(request({ cause: Option.some(Cause.fail("bad input")) }), info)
    expect(fromCause).toMatch(/^cause:\n {2}Error: bad input/m)
    const fromString = Header.render(request({ cause: Option.some("thrown string") }), info)
    expect(fromString).toMatch(/^cause:\n {2}Error: thrown string/m)
    const none = Header.render(request(), info)
    expect(none).not.toMatch(/^(stack|cause):/m)
  })

  it("truncates a huge stack, which holds the whole message (the request's message is already cut at 64 KiB)", () => {
    const error = new Error("x".repeat(4 * Header.MAX_DETAILS))
    const text = Header.render(request({ cause: Option.some(error) }), info)
    expect(text.length).toBeLessThan(Header.MAX_DETAILS + 4096)
    expect(text).toMatch(/^ {2}\.\.\.\[truncated: \d+ more characters\]$/m)
  })

  it("says why callerOnly shows every thread when it does", () => {
    const text = Header.render(request({ callerOnly: true }), {
      ...info,
      callerOnlyFallback: Option.some("this gdb has no Python")
    })
    expect(text).toContain("caller only: requested; this gdb has no Python")
  })
})

describe("names", () => {
  it("keeps a program name to safe characters", () => {
    expect(sanitizeProgram("server")).toBe("server")
    expect(sanitizeProgram("my app.v2/../x")).toBe("my_app_v2_x")
    expect(sanitizeProgram("...")).toBe("node")
  })

  it("stamps time sortably without colons", () => {
    expect(timestamp(new Date("2026-11-26T04:19:39.123Z"))).toBe("20261126T041939.123Z")
  })
})

describe("thread roles", () => {
  it.each(
    [
      [1, "#2  0x1 in uv_run (loop=0x0) at core.c:447", "main thread"],
      [
        2,
        "#5  0x1 in uv_cond_wait ()\n#6  0x2 in worker (arg=0x0) at ../deps/uv/src/threadpool.c:76",
        "libuv threadpool"
      ],
      [2, "#6  0x1 in node::(anonymous namespace)::PlatformWorkerThread(void*) ()", "V8 platform worker"],
      [
        2,
        "#3  0x1 in node::WorkerThreadsTaskRunner::DelayedTaskScheduler::Start()::{lambda(void*)#1}::_FUN(void*) ()",
        "V8 delayed-task scheduler"
      ],
      [2, "#8  0x1 in node::inspector::(anonymous namespace)::StartIoThreadMain(void*) ()", "inspector I/O"],
      [2, "#4  0x1 in node::worker::Worker::Run() ()", "worker_threads Worker"],
      [2, "#0  0x1 in some_native_addon_thread ()", undefined]
    ] as const
  )("LWP %i -> %s", (lwp, frames, role) => {
    expect(threadRole(lwp, 1, frames)).toBe(role)
  })
})

describe("perf map rewrite", () => {
  /** A folder of the running test's own, and the snapshot and perf map paths in it. */
  const files = () => {
    const dir = testTempDir()
    return { dir, snapshot: path.join(dir, "s.txt"), map: path.join(dir, "perf-1.map") }
  }
  const perfMap = [
    "7f0000001000 100 JS:~old file.js:1:1",
    "7f0000001000 20 JS:*hot file.js:2:3",
    "7f0000003000 10 JS:far",
    ""
  ].join("\n")
  const original = [
    "header",
    "  Id   Target Id                               Frame ",
    "* 1    Thread 0x7f (LWP 1) \"node\" 0x00007f0000001010 in ?? ()",
    "",
    "Thread 2 (Thread 0x7e (LWP 2) \"node\"):",
    "#0  0x0000000000000002 in ?? ()",
    "#1  0x1 in uv_cond_wait ()",
    "#2  0x2 in worker (arg=0x0) at threadpool.c:76",
    "",
    "Thread 1 (Thread 0x7f (LWP 1) \"node\"):",
    "#0  0x00007f0000001010 in ?? ()",
    "#1  0x00007f0000002000 in ?? ()",
    "#2  0x3 in uv_run ()",
    "",
    "==== end ===="
  ].join("\n") + "\n"

  it("names ?? frames from the map (a later entry wins), labels threads, keeps the rest", async () => {
    const { dir, map, snapshot } = files()
    fs.writeFileSync(snapshot, original, { mode: 0o600 })
    fs.writeFileSync(map, perfMap)
    const addresses = await unnamedAddresses(snapshot)
    expect(addresses).toEqual([2, 0x7f0000001010, 0x7f0000002000])
    const names = await resolvePerfMap((await openPerfMap(map))!, addresses)
    expect([...names]).toEqual([[0x7f0000001010, "JS:*hot file.js:2:3"]])
    const summary = await rewrite(snapshot, { pid: 1, tid: 1, faulted: true }, names)
    expect(summary).toEqual({ jitFrames: 2, threads: 2, complete: false })
    const text = fs.readFileSync(snapshot, "utf8")
    expect(text).toContain("* 1    Thread 0x7f (LWP 1) \"node\" 0x00007f0000001010 in JS:*hot file.js:2:3 ()")
    expect(text).toContain(
      "Thread 2 (Thread 0x7e (LWP 2) \"node\"): [libuv threadpool]\n#0  0x0000000000000002 in ?? ()\n"
    )
    expect(text).toContain(
      "Thread 1 (Thread 0x7f (LWP 1) \"node\"): [main thread, faulted]\n#0  0x00007f0000001010 in JS:*hot"
    )
    expect(text).toContain("#1  0x00007f0000002000 in ?? ()")
    expect(text.split("\n")).toHaveLength(original.split("\n").length)
    expect(fs.statSync(snapshot).mode & 0o777).toBe(0o600)
    expect(fs.readdirSync(dir).sort()).toEqual(["perf-1.map", "s.txt"])
  })

  it("says whether gdb's end marker is there", async () => {
    const { snapshot } = files()
    fs.writeFileSync(snapshot, `header\n  ${END_MARKER}\n`, { mode: 0o600 })
    expect((await rewrite(snapshot, { pid: 1, tid: 1, faulted: true }, new Map())).complete).toBe(false)
    fs.writeFileSync(snapshot, `header\n\n${END_MARKER}\n`, { mode: 0o600 })
    expect((await rewrite(snapshot, { pid: 1, tid: 1, faulted: true }, new Map())).complete).toBe(true)
  })

  // /tmp is shared: a perf map someone else put there must neither block the read nor name frames.
  it("reads only a regular perf map file owned by this user", async () => {
    const { dir, map } = files()
    fs.writeFileSync(map, perfMap)
    const fifo = path.join(dir, "fifo.map")
    execFileSync("mkfifo", [fifo])
    expect(await openPerfMap(fifo)).toBeUndefined()
    const link = path.join(dir, "link.map")
    fs.symlinkSync(map, link)
    expect(await openPerfMap(link)).toBeUndefined()
    expect(await openPerfMap(path.join(dir, "missing.map"))).toBeUndefined()
    if (process.getuid?.() === 0) {
      const foreign = path.join(dir, "foreign.map")
      fs.writeFileSync(foreign, "7f0000001000 100 JS:fake\n")
      fs.chownSync(foreign, 65534, 65534)
      expect(await openPerfMap(foreign)).toBeUndefined()
    }
    // A map last written before this process started belongs to an earlier process with the same pid.
    const stale = path.join(dir, "stale.map")
    fs.writeFileSync(stale, "7f0000001000 100 JS:old\n")
    fs.utimesSync(
      stale,
      new Date(Date.now() - process.uptime() * 1000 - 60_000),
      new Date(Date.now() - process.uptime() * 1000 - 60_000)
    )
    expect(await openPerfMap(stale)).toBeUndefined()
    const own = await openPerfMap(map)
    expect(own).toBeDefined()
    expect([...(await resolvePerfMap(own!, []))]).toEqual([])
  })
})

describe("core size guard", () => {
  const maps = [
    "00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/node",
    "01c00000-01e00000 rw-p 00000000 00:00 0           [heap]",
    "7f0000000000-7f0280000000 ---p 00000000 00:00 0 ",
    "7fff00000000-7fff00100000 rw-p 00000000 00:00 0           [stack]",
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0   [vsyscall]"
  ].join("\n")

  it("sums the anonymous mappings, reserved ones included", () => {
    expect(anonymousBytes(maps)).toBe(0x200000 + 0x280000000 + 0x100000)
    // coredump_filter without bit 0: gdb leaves private anonymous memory out.
    expect(anonymousBytes(maps, 0x32)).toBe(0)
  })

  it("skips a core above the limit or above the free space, with the reason", () => {
    const disk = (free: number, total = 1e12) => ({ free, total })
    expect(skipReason(1e9, disk(1e12), 4 * 2 ** 30)).toBeUndefined()
    expect(skipReason(10 * 2 ** 30, disk(1e12), 4 * 2 ** 30)).toContain("more than maxCoreSize (4.0 GiB)")
    expect(skipReason(2 * 2 ** 30, disk(2 ** 30), 4 * 2 ** 30)).toContain("1.0 GiB free")
    expect(skipReason(1e9, undefined, 4 * 2 ** 30)).toBeUndefined()
    expect(skipReason(undefined, disk(0), 0)).toBeUndefined()
  })

  it("never lets a core fill the disk: 5% of it, at most 1 GiB, stays free", () => {
    // A 1 TB disk with 3.5 GiB free: a 3 GiB core would leave less than 1 GiB.
    expect(reserve({ free: 0, total: 1e12 })).toBe(2 ** 30)
    expect(skipReason(3 * 2 ** 30, { free: 3.5 * 2 ** 30, total: 1e12 }, 4 * 2 ** 30)).toContain(
      "3.5 GiB free, 1.0 GiB of which must stay free"
    )
    expect(skipReason(2 * 2 ** 30, { free: 3.5 * 2 ** 30, total: 1e12 }, 4 * 2 ** 30)).toBeUndefined()
    // A 10 GiB disk keeps 0.5 GiB.
    expect(reserve({ free: 0, total: 10 * 2 ** 30 })).toBe(0.5 * 2 ** 30)
    expect(skipReason(0.6 * 2 ** 30, { free: 2 ** 30, total: 10 * 2 ** 30 }, 4 * 2 ** 30)).toBeDefined()
  })

  it("reads the space of a real folder", () => {
    const space = diskSpace(os.tmpdir())!
    expect(space.total).toBeGreaterThan(0)
    expect(space.free).toBeLessThanOrEqual(space.total)
    expect(diskSpace("/nonexistent/effect-bcd")).toBeUndefined()
  })

  it("matches this process's maps", () => {
    const estimate = estimateCoreSize(process.pid)
    console.log(`estimated core of this test process: ${((estimate ?? 0) / 2 ** 30).toFixed(2)} GiB`)
    expect(estimate).toBeGreaterThan(0)
  })
})

describe("Gdb.config", () => {
  const read = (env: Record<string, string>) =>
    Effect.runSyncExit(
      Effect.withConfigProvider(Effect.either(load(Gdb.config)), ConfigProvider.fromMap(new Map(Object.entries(env))))
    )

  it("reads every variable, the URL as Redacted", () => {
    const exit = read({
      BCD_GDB_PATH: "/usr/local/bin/gdb",
      BCD_OUTPUT_DIR: "/var/crash/app",
      BCD_PROGRAM: "api",
      BCD_ATTRIBUTES: "region:eu,build:42",
      BCD_CLASSIFIERS: "prod, api",
      BCD_GDB_FULL: "true",
      BCD_GDB_CORE: "true",
      BCD_GDB_MAX_CORE_SIZE: "1073741824",
      BCD_TIMEOUT: "30 seconds",
      BCD_PUT_URL: "https://crash.example.com/post?token=secret-1",
      BCD_UNLINK: "true",
      BCD_PUT_TIMEOUT: "10 seconds",
      BCD_PUT_CORE: "false"
    })
    const options = Exit.isSuccess(exit) && exit.value._tag === "Right" ? exit.value.right : undefined
    expect(options).toMatchObject({
      gdbPath: "/usr/local/bin/gdb",
      outputDir: "/var/crash/app",
      program: "api",
      attributes: { region: "eu", build: "42" },
      classifiers: ["prod", "api"],
      full: true,
      core: true,
      maxCoreSize: 2 ** 30,
      put: { unlink: true, core: false }
    })
    expect(Duration.toMillis(Duration.decode(options!.defaultTraceOptions!.timeout as Duration.DurationInput))).toBe(
      30_000
    )
    expect(Redacted.isRedacted(options!.put!.url)).toBe(true)
    expect(String(options!.put!.url)).not.toContain("secret-1")
  })

  it("keeps the defaults when nothing is set", () => {
    const exit = read({})
    expect(Exit.isSuccess(exit) && exit.value._tag === "Right" ? exit.value.right : undefined).toEqual({})
  })

  it("a malformed variable is a TracerConfigError naming it", () => {
    const exit = read({ BCD_GDB_FULL: "maybe" })
    const error = Exit.isSuccess(exit) && exit.value._tag === "Left" ? exit.value.left : undefined
    expect(error).toMatchObject({ _tag: "TracerConfigError", field: "environment" })
    expect(error!.message).toContain("BCD_GDB_FULL")
  })
})
