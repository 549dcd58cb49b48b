/**
 * The parts of the eu-stack backend that run no tracer: its argv, its
 * version probe's parsing, thread roles in eu-stack's format, the rewrite of
 * a finished snapshot, and its options read from `BCD_*` variables.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import { EuStack } from "../src/index.js"
import { loadConfig } from "../src/internal/core/config.js"
import { euStackArgs, parseVersion } from "../src/internal/eustack/command.js"
import { END_LINE, FOLLOWS, rewrite } from "../src/internal/eustack/finalize.js"
import { threadRole } from "../src/internal/snapshot/threads.js"
import { testTempDir } from "./support/temp.js"

describe("EuStack parts", () => {
  it("argv: every thread with modules and build ids, or the calling thread alone", () => {
    const base = { pid: 42, tid: Option.some(43), callerOnly: false, args: [] }
    expect(euStackArgs(base)).toEqual(["-m", "-b", "-p", "42"])
    expect(euStackArgs({ ...base, callerOnly: true })).toEqual(["-m", "-b", "-1", "-p", "43"])
    expect(euStackArgs({ ...base, callerOnly: true, tid: Option.none() })).toEqual(["-m", "-b", "-p", "42"])
    expect(euStackArgs({ ...base, args: ["-n", "64"] })).toEqual(["-m", "-b", "-n", "64", "-p", "42"])
  })

  it("reads eu-stack's version", () => {
    expect(parseVersion("eu-stack (elfutils) 0.188\nCopyright (C) 2022\n")).toEqual([0, 188])
    expect(parseVersion("GNU gdb (Debian 13.1-3) 13.1")).toBeUndefined()
  })

  it("thread roles from eu-stack's frames", () => {
    const frame = (n: number, name: string) => `#${n}  0x00000000018a7b40 ${name} - /usr/bin/node`
    expect(threadRole(7, 1, [frame(8, "node::ThreadPoolWork::ScheduleWork()"), frame(9, "worker")].join("\n")))
      .toBe("libuv threadpool")
    expect(threadRole(7, 1, frame(3, "node::(anonymous namespace)::PlatformWorkerThread(void*)")))
      .toBe("V8 platform worker")
    expect(threadRole(7, 1, frame(4, "node::worker::Worker::Run()"))).toBe("worker_threads Worker")
    expect(threadRole(7, 1, frame(3, "node::inspector::(anonymous namespace)::StartIoThreadMain(void*)")))
      .toBe("inspector I/O")
    expect(threadRole(7, 1, frame(3, "my_worker_helper"))).toBeUndefined()
  })

  it("rewrite: labels, JIT names (dropping the module claimed for JIT code), the end line and warnings", async () => {
    const file = path.join(testTempDir(), "s.txt")
    fs.writeFileSync(
      file,
      [
        "effect-bcd snapshot (eu-stack)",
        "error:       TID 9:",
        FOLLOWS,
        "PID 1 - process",
        "TID 1:",
        "#0  0x00007f0000001010 - /usr/bin/node",
        "    [ebeaf2df364d5eeb7096f0f7722a69eec6efdf3b]@0x400000+0x7effffc01010",
        "#1  0x00007f0000002000",
        "#2  0x00000000018c0366 uv__io_poll - /usr/bin/node",
        "    [ebeaf2df364d5eeb7096f0f7722a69eec6efdf3b]@0x400000+0x14c0365",
        "TID 2:",
        "#0  0x00000000018bb4a9 uv_cond_wait - /usr/bin/node",
        "#1  0x00000000018a7bdc worker - /usr/bin/node",
        ""
      ].join("\n")
    )
    fs.chmodSync(file, 0o600)
    const names = new Map([[0x7f0000001010, "JS:*hot file:///app.js:1:1"]])
    const summary = await rewrite(file, { pid: 1, tid: 1, faulted: true }, names, {
      exitCode: 1,
      stderr: "eu-stack: dwfl_thread_getframes tid 3: No such process\n"
    })
    expect(summary).toEqual({ jitFrames: 1, threads: 2, tids: [1, 2] })
    expect(fs.readFileSync(file, "utf8")).toBe(
      [
        "effect-bcd snapshot (eu-stack)",
        "error:       TID 9:",
        FOLLOWS,
        "PID 1 - process",
        "TID 1: [main thread, faulted]",
        "#0  0x00007f0000001010 JS:*hot file:///app.js:1:1 - [JIT code, perf map]",
        "#1  0x00007f0000002000",
        "#2  0x00000000018c0366 uv__io_poll - /usr/bin/node",
        "    [ebeaf2df364d5eeb7096f0f7722a69eec6efdf3b]@0x400000+0x14c0365",
        "TID 2: [libuv threadpool]",
        "#0  0x00000000018bb4a9 uv_cond_wait - /usr/bin/node",
        "#1  0x00000000018a7bdc worker - /usr/bin/node",
        "",
        `${END_LINE} (2 threads, exit code 1: some frames are missing) ====`,
        "eu-stack's warnings:",
        "  eu-stack: dwfl_thread_getframes tid 3: No such process",
        ""
      ].join("\n")
    )
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
  })
})

describe("EuStack.config", () => {
  const read = (env: Record<string, string>) =>
    Effect.runSyncExit(
      Effect.withConfigProvider(
        Effect.either(loadConfig(EuStack.config)),
        ConfigProvider.fromMap(new Map(Object.entries(env)))
      )
    )

  it("reads every variable, the URL as Redacted", () => {
    const exit = read({
      BCD_EU_STACK_PATH: "/usr/local/bin/eu-stack",
      BCD_OUTPUT_DIR: "/var/crash/app",
      BCD_PROGRAM: "api",
      BCD_ATTRIBUTES: "region:eu,build:42",
      BCD_CLASSIFIERS: "prod, api",
      BCD_TIMEOUT: "30 seconds",
      BCD_PUT_URL: "https://crash.example.com/post?token=secret-1",
      BCD_UNLINK: "true",
      BCD_PUT_TIMEOUT: "10 seconds"
    })
    const options = Exit.isSuccess(exit) && exit.value._tag === "Right" ? exit.value.right : undefined
    expect(options).toMatchObject({
      euStackPath: "/usr/local/bin/eu-stack",
      outputDir: "/var/crash/app",
      program: "api",
      attributes: { region: "eu", build: "42" },
      classifiers: ["prod", "api"],
      put: { unlink: true }
    })
    expect(Duration.toMillis(Duration.decode(options!.defaultTraceOptions!.timeout as Duration.DurationInput)))
      .toBe(30_000)
    expect(Duration.toMillis(Duration.decode(options!.put!.timeout!))).toBe(10_000)
    expect(Redacted.isRedacted(options!.put!.url)).toBe(true)
  })

  it("keeps the defaults when nothing is set", () => {
    const exit = read({})
    expect(Exit.isSuccess(exit) && exit.value._tag === "Right" ? exit.value.right : undefined).toEqual({})
  })

  it.live("layerConfig: a missing eu-stack named by BCD_EU_STACK_PATH fails the layer, naming elfutils", () => {
    const dir = testTempDir()
    return Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(EuStack.layerConfig())))
      const error = Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
      expect(error).toMatchObject({ _tag: "TracerConfigError", field: "euStackPath" })
      expect(error!.message).toContain("elfutils")
    }).pipe(
      Effect.withConfigProvider(
        ConfigProvider.fromMap(
          new Map([["BCD_EU_STACK_PATH", "/nonexistent/eu-stack"], ["BCD_OUTPUT_DIR", dir]])
        )
      )
    )
  })
})
