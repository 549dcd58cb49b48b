/**
 * The parts of Backtrace JSON reports that run no tracer: parsing gdb's and
 * eu-stack's text snapshots (trimmed real output in test/fixtures/snapshots),
 * V8 stack lines, the report's shape (checked against @backtrace/sdk-core's
 * type), the submission URL and format, and the multipart body. The reports
 * of real snapshots sent to a real server are in gdb.test.ts and
 * eustack.test.ts.
 */
import type { BacktraceSubmitBody } from "@backtrace/sdk-core"
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { EuStack, Gdb } from "../src/index.js"
import { loadConfig } from "../src/internal/core/config.js"
import { submissionBody } from "../src/internal/jsonReport/body.js"
import {
  AGENT_VERSION,
  build,
  type Context,
  JS_THREAD,
  type Report,
  sysname
} from "../src/internal/jsonReport/build.js"
import { jsFrame, jsFrames } from "../src/internal/jsonReport/jsStack.js"
import { moduleLookup } from "../src/internal/jsonReport/modules.js"
import { euStackFrame, gdbFrame, parse } from "../src/internal/jsonReport/parse.js"
import { resolveTarget } from "../src/internal/jsonReport/url.js"
import { secretsOf } from "../src/internal/upload/policy.js"
import { type Answer, type Part, partsSize, post } from "../src/internal/upload/transport.js"
import { withTempDir } from "./support/temp.js"

const fixture = (name: string) =>
  fs.readFileSync(fileURLToPath(new URL(`./fixtures/snapshots/${name}`, import.meta.url)), "utf8")

const context: Context = {
  uuid: "9b2c4e0a-1f3d-4c5e-8a7b-6c5d4e3f2a1b",
  now: new Date("2026-01-01T00:00:00Z"),
  hostname: "web-1",
  platform: "linux",
  arch: "x64",
  release: "6.1.0"
}

describe("parsing text snapshots", () => {
  it("a gdb snapshot: header fields, attributes, the stack block, every thread with its labels and frames", () => {
    const parsed = parse(fixture("gdb.txt"))
    expect(parsed.tracer).toBe("gdb")
    expect(parsed.complete).toBe(true)
    expect(parsed.fields).toContainEqual(["pid", "9784"])
    expect(parsed.fields).toContainEqual(["faulted tid", "9784"])
    expect(parsed.fields).toContainEqual(["error", "PaymentDeclined"])
    expect(parsed.attributes).toEqual([["error", "PaymentDeclined"], ["route", "GET /x"]])
    expect(parsed.blocks.map((b) => b.title)).toEqual(["stack"])
    expect(parsed.blocks[0]!.text).toMatch(/^PaymentDeclined\n {4}at <anonymous> \(\/app\/checkout\.ts:8:32\)\n/)
    // The threads of the backtrace section only (not the frame gdb prints when it switches threads).
    expect(parsed.threads.map((t) => [t.tid, t.labels])).toEqual([
      [9795, ["worker_threads Worker"]],
      [9791, ["libuv threadpool"]],
      [9790, ["inspector I/O"]],
      [9784, ["main thread", "faulted"]]
    ])
    const main = parsed.threads[3]!
    expect(main.frames).toHaveLength(9)
    expect(main.frames[0]).toEqual({
      function: "__GI_epoll_pwait",
      address: "0x00007f8d39324cae",
      file: "../sysdeps/unix/sysv/linux/epoll_pwait.c",
      line: 40
    })
    expect(main.frames[3]).toEqual({
      function: "node::SpinEventLoopInternal(node::Environment*)",
      address: "0x0000000000bbbbe6"
    })
  })

  it("gdb's frame forms: no address, from a library, ??, C++ names with parentheses", () => {
    expect(gdbFrame("__futex_abstimed_wait_common64 (private=0, cancel=true) at ./nptl/futex-internal.c:57"))
      .toEqual({ function: "__futex_abstimed_wait_common64", file: "./nptl/futex-internal.c", line: 57 })
    expect(gdbFrame("0x00007f1c2a6453b6 in __libc_start_call_main () from /lib/x86_64-linux-gnu/libc.so.6"))
      .toEqual({
        function: "__libc_start_call_main",
        address: "0x00007f1c2a6453b6",
        library: "/lib/x86_64-linux-gnu/libc.so.6"
      })
    expect(gdbFrame("0x00003f0e1b2c4d80 in ?? ()")).toEqual({ address: "0x00003f0e1b2c4d80" })
    expect(
      gdbFrame(
        "0x0000000000dbb549 in node::worker::Worker::StartThread(v8::FunctionCallbackInfo<v8::Value> const&)::" +
          "{lambda(void*)#1}::_FUN(void*) ()"
      ).function
    ).toBe(
      "node::worker::Worker::StartThread(v8::FunctionCallbackInfo<v8::Value> const&)::{lambda(void*)#1}::_FUN(void*)"
    )
    expect(
      gdbFrame(
        "0x00007f8d392accff in do_futex_wait (sem=sem@entry=0x5660460 <node::inspector::(anonymous namespace)::sem>, " +
          "abstime=0x0) at ./nptl/sem_waitcommon.c:111"
      )
    ).toEqual({ function: "do_futex_wait", address: "0x00007f8d392accff", file: "./nptl/sem_waitcommon.c", line: 111 })
  })

  it("an eu-stack snapshot: threads, modules, build ids, the end line", () => {
    const parsed = parse(fixture("eu-stack.txt"))
    expect(parsed.tracer).toBe("eu-stack")
    expect(parsed.complete).toBe(true)
    expect(parsed.threads.map((t) => [t.tid, t.labels, t.frames.length])).toEqual([
      [9997, ["main thread", "faulted"], 9],
      [9999, ["V8 platform worker"], 6]
    ])
    expect(parsed.threads[0]!.frames[0]).toEqual({
      function: "epoll_pwait",
      address: "0x00007f41dcd26cae",
      library: "/usr/lib/x86_64-linux-gnu/libc.so.6",
      buildId: "93ac61ec5a8eb1396f9fbd350e3169a558528a40"
    })
  })

  it("eu-stack's frame forms: unnamed, JIT code named from the perf map, no module", () => {
    expect(euStackFrame("0x00007f2bbe867079 - /usr/bin/node")).toEqual({
      address: "0x00007f2bbe867079",
      library: "/usr/bin/node"
    })
    expect(euStackFrame("0x00007f2bbe867079")).toEqual({ address: "0x00007f2bbe867079" })
    expect(euStackFrame("0x00003a8c5f4e2c1a JS:*hiddenBusySpin /app/x.js:3 - [JIT code, perf map]")).toEqual({
      function: "JS:*hiddenBusySpin /app/x.js:3",
      address: "0x00003a8c5f4e2c1a",
      library: "[JIT code, perf map]"
    })
  })

  it("a snapshot cut short has no end marker; a header-less file still gives its threads", () => {
    const text = fixture("gdb.txt")
    expect(parse(text.slice(0, text.indexOf("==== end of gdb output"))).complete).toBe(false)
    const bare = parse("TID 7:\n#0  0x0000000000000001 f - /lib/a.so\n")
    expect(bare.tracer).toBeUndefined()
    expect(bare.threads).toEqual([{
      tid: 7,
      labels: [],
      frames: [{ function: "f", address: "0x0000000000000001", library: "/lib/a.so" }]
    }])
  })

  it("header values over several lines, and a cause block", () => {
    const parsed = parse(
      [
        "effect-bcd snapshot (eu-stack)",
        "error:       first line",
        "  second line",
        "attributes:",
        "  note: a",
        "    b",
        "cause:",
        "  Error: boom",
        "      at run (/app/a.js:1:2)",
        "",
        "eu-stack's output follows"
      ].join("\n")
    )
    expect(parsed.fields).toEqual([["error", "first line\nsecond line"]])
    expect(parsed.attributes).toEqual([["note", "a\nb"]])
    expect(parsed.blocks).toEqual([{ title: "cause", text: "Error: boom\n    at run (/app/a.js:1:2)" }])
  })
})

describe("V8 stack lines", () => {
  it("reads function, file, line and column as Backtrace's SDK does", () => {
    expect(jsFrame("charge (/app/checkout.ts:8:32)")).toEqual({
      function: "charge",
      file: "/app/checkout.ts",
      line: 8,
      column: 32
    })
    expect(jsFrame("async Promise.all (index 0)")).toEqual({ function: "Promise.all", file: "index 0" })
    expect(jsFrame("/app/main.js:3:7")).toEqual({ function: "anonymous", file: "/app/main.js", line: 3, column: 7 })
    expect(jsFrame("Generator.next (<anonymous>)")).toEqual({ function: "Generator.next", file: "unknown" })
    expect(jsFrame("new Cart (file:///app/cart.mjs:10:5)")).toEqual({
      function: "new Cart",
      file: "file:///app/cart.mjs",
      line: 10,
      column: 5
    })
    expect(jsFrame("eval (eval at run (/app/a.js:1:1), <anonymous>:2:3)")).toEqual({
      function: "eval",
      file: "<anonymous>",
      line: 2,
      column: 3
    })
  })

  it("takes the first stack of a text: its consecutive at-lines", () => {
    const text = "TypeError: x\n    at a (/a.js:1:1)\n    at b (/b.js:2:2)\n\nError: second\n    at c (/c.js:3:3)"
    expect(jsFrames(text).map((f) => f.function)).toEqual(["a", "b"])
    expect(jsFrames("no stack here")).toEqual([])
  })
})

describe("the report", () => {
  const report = build(parse(fixture("gdb.txt")), {
    ...context,
    version: "1.2.3",
    errorClass: "PaymentDeclined",
    moduleOf: (address) => (address < 0x7f0000000000n ? "/usr/bin/node" : undefined)
  })

  it("has the type of @backtrace/sdk-core's BacktraceSubmitBody", () => {
    // A compile-time check (npm run typecheck): the report fits the SDK's submission body.
    const body: BacktraceSubmitBody = report
    expect(body.mainThread in body.threads).toBe(true)
    expect(body.lang).toBe("nodejs")
    expect(body.langVersion).toBe("v20.20.2")
    expect(body.agent).toBe("effect-bcd")
    expect(body.timestamp).toBe(Math.floor(Date.parse("2026-12-01T05:15:29.690Z") / 1000))
  })

  it("the error's JS stack is the faulting main thread, with file, line and column", () => {
    expect(report.mainThread).toBe(JS_THREAD)
    const js = report.threads[JS_THREAD]!
    expect(js.fault).toBe(true)
    expect(js.stack[0]).toEqual({ funcName: "<anonymous>", library: "/app/checkout.ts", line: 8, column: 32 })
    expect(js.stack).toHaveLength(10)
    // One thread holds the fault.
    expect(Object.values(report.threads).filter((t) => t.fault)).toHaveLength(1)
  })

  it("one thread per native thread, keyed by LWP, named by its labels, libraries from the maps", () => {
    expect(Object.keys(report.threads).sort()).toEqual(["9784", "9790", "9791", "9795", JS_THREAD])
    expect(report.threads["9784"]!.name).toBe("main thread, faulted")
    expect(report.threads["9791"]!.name).toBe("libuv threadpool")
    const spin = report.threads["9784"]!.stack[3]!
    expect(spin).toEqual({
      funcName: "node::SpinEventLoopInternal(node::Environment*)",
      address: "0x0000000000bbbbe6",
      library: "/usr/bin/node"
    })
    // No module known for a libc address here: Backtrace's placeholder.
    expect(report.threads["9784"]!.stack[0]!.library).toBe("unknown")
  })

  it("classifiers with the error's class first; attributes from the header and the host", () => {
    const classified = build(
      parse(fixture("gdb.txt").replace("classifiers: PaymentDeclined", "classifiers: prod, PaymentDeclined")),
      {
        ...context,
        errorClass: "PaymentDeclined"
      }
    )
    expect(classified.classifiers).toEqual(["PaymentDeclined", "prod"])
    expect(report.attributes).toMatchObject({
      "error.message": "PaymentDeclined",
      error: "PaymentDeclined",
      route: "GET /x",
      "process.id": 9784,
      "fiber.id": 0,
      "faulted.tid": "9784",
      program: "snap",
      application: "snap",
      "application.version": "1.2.3",
      hostname: "web-1",
      "uname.sysname": "Linux",
      "uname.machine": "x64",
      "process.thread.count": 4,
      tracer: "gdb",
      "snapshot.complete": true
    })
    expect(report.annotations.stack).toMatch(/^PaymentDeclined\n/)
  })

  it("without an error stack, the faulted native thread is the main thread; an embedded JSON block is an object", () => {
    const text = fixture("eu-stack.txt").replace(
      /^stack:\n(?: {2}.*\n)+/m,
      "node process state (handles, heap, resource usage; without the environment and secrets):\n" +
        "  {\n    \"node\": {\"pid\": 9997}\n  }\n"
    )
    const bare = build(parse(text), context)
    expect(bare.mainThread).toBe("9997")
    expect(bare.threads["9997"]!.fault).toBe(true)
    expect(bare.threads[JS_THREAD]).toBeUndefined()
    expect(bare.annotations["node process state"]).toEqual({ node: { pid: 9997 } })
    expect(bare.threads["9997"]!.stack[0]!.debug_identifier).toBe("93ac61ec5a8eb1396f9fbd350e3169a558528a40")
  })

  it("without an error, another JS stack of the header (a hang's main thread) is the faulting main thread", () => {
    const text = fixture("eu-stack.txt").replace(/^stack:\n/m, "main thread JS stack:\n")
    const hang = build(parse(text), context)
    expect(hang.mainThread).toBe("js: main thread JS stack")
    expect(hang.threads[hang.mainThread]!.name).toBe("JavaScript: main thread JS stack")
    expect(hang.threads[hang.mainThread]!.stack[0]).toMatchObject({ library: "/app/checkout.ts", line: 8 })
    expect(Object.entries(hang.threads).filter(([, t]) => t.fault).map(([k]) => k)).toEqual([hang.mainThread])
  })

  it("a hang snapshot: no JS stack, the faulted native main thread; padded attribute values trimmed", () => {
    const text = fixture("eu-stack.txt")
      .replace(/^stack:\n(?: {2}.*\n)+/m, "cause:\n  Error: The event loop has been blocked for 300 ms or more\n")
      .replace("  route: GET /x\n", "  event_loop.blocked_ms: 313         \n")
    const hang = build(parse(text), context)
    expect(hang.mainThread).toBe("9997")
    expect(hang.threads["9997"]!.fault).toBe(true)
    expect(hang.attributes["event_loop.blocked_ms"]).toBe("313")
    expect(hang.annotations.cause).toBe("Error: The event loop has been blocked for 300 ms or more")
  })

  it("a snapshot with no thread still names an existing main thread", () => {
    const empty: Report = build(parse(""), context)
    expect(empty.threads[empty.mainThread]).toBeDefined()
  })

  it("Backtrace's uname.sysname, and the agent's version is package.json's", () => {
    expect([sysname("linux"), sysname("darwin"), sysname("win32")]).toEqual(["Linux", "Mac OS", "Windows"])
    const pkg = JSON.parse(fs.readFileSync(path.resolve(import.meta.dirname, "../package.json"), "utf8"))
    expect(AGENT_VERSION).toBe(pkg.version)
  })
})

describe("module lookup", () => {
  it("finds the file mapped at an address of this process, and none in an anonymous mapping", () => {
    const maps = fs.readFileSync("/proc/self/maps", "utf8")
    const lookup = moduleLookup(maps)
    const lines = maps.split("\n").filter((l) => l.trim() !== "")
    const file = lines.find((l) => / \/\S+$/.test(l))!
    const [start, end] = file.split(" ")[0]!.split("-").map((x) => BigInt(`0x${x}`))
    expect(lookup(start!)).toBe(file.slice(file.indexOf("/")))
    expect(lookup(end! - 1n)).toBe(file.slice(file.indexOf("/")))
    const anon = lines.find((l) => l.trim().split(/\s+/).length === 5)
    if (anon !== undefined) expect(lookup(BigInt(`0x${anon.split("-")[0]}`))).toBeUndefined()
  })
})

describe("where put sends, and in which format", () => {
  const target = (t: Parameters<typeof resolveTarget>[0]) =>
    Either.map(resolveTarget(t), ({ format, url }) => ({ format, url: url.href }))

  it("a Backtrace endpoint gets JSON: host[:port] and token, or a submission URL", () => {
    expect(target({ endpoint: "bt.example.com", token: Redacted.make("t0k/+&") })).toEqual(
      Either.right({ format: "backtrace-json", url: "https://bt.example.com:6098/post?format=json&token=t0k%2F%2B%26" })
    )
    expect(target({ endpoint: Redacted.make("https://submit.backtrace.io/acme/0123456789abcdef/json") })).toEqual(
      Either.right({ format: "backtrace-json", url: "https://submit.backtrace.io/acme/0123456789abcdef/json" })
    )
    // Another format segment is turned into json.
    expect(target({ endpoint: "https://submit.backtrace.io/acme/0123456789abcdef/minidump" })).toEqual(
      Either.right({ format: "backtrace-json", url: "https://submit.backtrace.io/acme/0123456789abcdef/json" })
    )
    expect(target({ url: "http://127.0.0.1:9/post?token=abc" })).toEqual(
      Either.right({ format: "backtrace-json", url: "http://127.0.0.1:9/post?format=json&token=abc" })
    )
  })

  it("any other URL gets the text file; format overrides either way", () => {
    expect(target({ url: "https://crash.example.com/upload?key=1" })).toEqual(
      Either.right({ format: "raw", url: "https://crash.example.com/upload?key=1" })
    )
    expect(target({ endpoint: "bt.example.com", token: "abc", format: "raw" })).toEqual(
      Either.right({ format: "raw", url: "https://bt.example.com:6098/post?token=abc" })
    )
  })

  it("the format parameter is no secret, the token is", () => {
    const secrets = secretsOf(new URL("http://127.0.0.1:9/post?format=json&token=abcd1234"))
    expect(secrets).toContain("abcd1234")
    expect(secrets).not.toContain("json")
  })

  it("bad targets are TracerConfigErrors naming the field, never the token", () => {
    const field = (t: Parameters<typeof resolveTarget>[0]) =>
      Either.match(resolveTarget(t), { onLeft: (e) => [e.field, e.message], onRight: () => undefined })
    expect(field({})?.[0]).toBe("put")
    expect(field({ url: "http://a/", endpoint: "b" })?.[0]).toBe("put")
    expect(field({ endpoint: "bt.example.com" })?.[0]).toBe("put.token")
    expect(field({ url: "ftp://h/post?token=s3cr3t-token" })).toEqual([
      "put.url",
      expect.not.stringContaining("s3cr3t")
    ])
    expect(field({ url: "http://a/", format: "xml" as "raw" })?.[0]).toBe("put.format")
  })
})

describe("the submission body", () => {
  const bytesOf = (parts: ReadonlyArray<Part>) =>
    Buffer.concat(parts.map((part) => "bytes" in part ? part.bytes : fs.readFileSync(part.path).subarray(0, part.size)))

  it("the JSON alone without attachments", () => {
    const body = submissionBody(new TextEncoder().encode("{\"a\":1}"), [])
    expect(body.contentType).toBe("application/json")
    expect(bytesOf(body.parts).toString()).toBe("{\"a\":1}")
  })

  it.live("multipart: upload_file.json then each attachment from disk, sent whole over HTTP with its Content-Length", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const text = path.join(dir, "app.1.txt")
        const core = path.join(dir, "app.1.core")
        fs.writeFileSync(text, "snapshot text\n")
        fs.writeFileSync(core, Buffer.alloc(3_000_000, 7))
        const body = submissionBody(new TextEncoder().encode("{\"uuid\":\"x\"}"), [
          { name: "app.1.txt", path: text, contentType: "text/plain; charset=utf-8" },
          { name: "app.1.core", path: core, contentType: "application/octet-stream" }
        ])
        const boundary = /^multipart\/form-data; boundary=(.+)$/.exec(body.contentType)![1]!
        const data = bytesOf(body.parts)
        expect(partsSize(body.parts)).toBe(data.length)
        // Only the report and the part headers are in memory; the files are read when sent.
        expect(body.parts.filter((p) => "path" in p).map((p) => "path" in p && p.path)).toEqual([text, core])
        const parts = data.toString("latin1").split(`--${boundary}`)
        expect(parts[0]).toBe("")
        expect(parts.at(-1)).toBe("--\r\n")
        expect(parts[1]).toBe(
          "\r\nContent-Disposition: form-data; name=\"upload_file\"; filename=\"upload_file.json\"\r\n" +
            "Content-Type: application/json\r\n\r\n{\"uuid\":\"x\"}\r\n"
        )
        expect(parts[2]).toContain("name=\"attachment_app.1.txt\"; filename=\"app.1.txt\"\r\nContent-Type: text/plain")
        expect(parts[2]).toMatch(/\r\n\r\nsnapshot text\n\r\n$/)
        expect(parts[3]!.length).toBeGreaterThan(3_000_000)

        // Through the upload transport to a real server on 127.0.0.1: the same bytes arrive.
        const received: Array<{ headers: http.IncomingHttpHeaders; body: Buffer }> = []
        const server = http.createServer((req, res) => {
          const chunks: Array<Buffer> = []
          req.on("data", (c: Buffer) => chunks.push(c))
          req.on("end", () => {
            received.push({ headers: req.headers, body: Buffer.concat(chunks) })
            res.end("ok")
          })
        })
        yield* Effect.acquireRelease(
          Effect.async<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
          () => Effect.sync(() => server.close())
        )
        const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/post?format=json&token=t`)
        const answer = yield* Effect.async<Answer, Error>((resume) =>
          void post(url, body.parts, body.contentType, 30_000, undefined, (outcome) =>
            resume(
              outcome._tag === "Answer"
                ? Effect.succeed(outcome.answer)
                : Effect.fail(new Error(outcome.failure.message))
            ))
        )
        expect(answer.status).toBe(200)
        expect(received[0]!.headers["content-type"]).toBe(body.contentType)
        expect(received[0]!.headers["content-length"]).toBe(String(data.length))
        expect(received[0]!.body.equals(data)).toBe(true)
      }).pipe(Effect.scoped)
    ))
})

describe("put from the environment", () => {
  const read = <A>(config: Parameters<typeof loadConfig<A>>[0], env: Record<string, string>) =>
    Effect.runSyncExit(
      Effect.withConfigProvider(Effect.either(loadConfig(config)), ConfigProvider.fromMap(new Map(Object.entries(env))))
    )

  it("BCD_ENDPOINT and BCD_TOKEN (Redacted), BCD_PUT_FORMAT, BCD_APPLICATION, BCD_APPLICATION_VERSION", () => {
    const env = {
      BCD_ENDPOINT: "bt.example.com:7000",
      BCD_TOKEN: "secret-token-1",
      BCD_PUT_FORMAT: "raw",
      BCD_APPLICATION: "checkout",
      BCD_APPLICATION_VERSION: "1.2.3"
    }
    for (const exit of [read(Gdb.config, env), read(EuStack.config, env)]) {
      const options = Exit.isSuccess(exit) && exit.value._tag === "Right" ? exit.value.right : undefined
      expect(options?.put).toMatchObject({ format: "raw", application: "checkout", version: "1.2.3" })
      expect(Redacted.isRedacted(options!.put!.endpoint)).toBe(true)
      expect(Redacted.isRedacted(options!.put!.token)).toBe(true)
      expect(JSON.stringify(options)).not.toContain("secret-token-1")
    }
  })

  it("an unknown BCD_PUT_FORMAT is an error naming it", () => {
    const exit = read(Gdb.config, { BCD_PUT_URL: "http://a/", BCD_PUT_FORMAT: "xml" })
    const error = Exit.isSuccess(exit) && exit.value._tag === "Left" ? exit.value.left : undefined
    expect(error?.message).toContain("BCD_PUT_FORMAT")
  })
})
