/**
 * The pure parts of a snapshot's Effect context: the header's `Cause.pretty`
 * with Effect's span stack, and the process's state read for a snapshot and
 * sanitised (this process's, with secrets planted in it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Effect, Exit, Option, Redacted } from "effect"
import * as net from "node:net"
import * as Header from "../src/internal/snapshot/header.js"
import {
  processState,
  redactArgs,
  REDACTED,
  sanitizeState,
  scrubText,
  takeReport
} from "../src/internal/snapshot/report.js"
import { traceRequest } from "./support/backends.js"

class OutOfStock extends Data.TaggedError("OutOfStock")<{ readonly message: string }> {}

const info: Header.HeaderInfo = {
  tracer: "test",
  follows: "output follows",
  time: new Date(0),
  program: "p",
  core: Option.none(),
  coreSkipped: Option.none(),
  callerOnlyFallback: Option.none()
}

describe("the header of a trace(cause)", () => {
  it("quotes Cause.pretty with the span stack", () => {
    const exit = Effect.runSyncExit(
      Effect.fail(new OutOfStock({ message: "gone" })).pipe(Effect.withSpan("checkout-span"))
    )
    if (!Exit.isFailure(exit)) throw new Error("expected a failure")
    const text = Header.render(traceRequest({ cause: Option.some(exit.cause) }), info)
    expect(text).toMatch(/^cause:\n {2}OutOfStock: gone\n/m)
    expect(text).toMatch(/^\s+at checkout-span \(/m)
  })

  it("embeds the report after the error's details, before the line saying what follows", () => {
    const text = Header.render(traceRequest({ cause: Option.some(Cause.die("x")) }), {
      ...info,
      report: "{\n  \"a\": 1\n}"
    })
    expect(text).toContain(`${Header.REPORT_TITLE}:\n  {\n    "a": 1\n  }\n\noutput follows\n`)
  })
})

/** The parts of the state these tests read or plant secrets in. */
interface State {
  node: { commandLine: Array<string>; cwd: string }
  handles: Array<unknown>
  resources: Record<string, number>
  heap: { total_heap_size: number }
  heapSpaces: Record<string, unknown>
  resourceUsage: { maxRSS: number }
  limits: Record<string, string>
  custom?: unknown
}

describe("the process's state for a snapshot", () => {
  const token = "tok-3f9a~!'()x y"
  const state = () => {
    const real = processState() as unknown as State
    real.node.commandLine = [
      "node",
      "app.js",
      "--token",
      "next-arg-secret",
      `--endpoint=https://h.example/post?token=${encodeURIComponent(token)}`,
      "--db=postgres://app:db-password-1@db/x",
      "--client_secret=cs-value-1"
    ]
    real.node.cwd = `/srv/${token}`
    real.handles.push({ type: "socket", note: `form ${encodeURIComponent(token).replace(/%20/g, "+")}` })
    real.handles.push({ type: "socket", note: `echoed ${new URLSearchParams({ t: token })}` })
    real.custom = { apiKey: "key-value-1", nested: [{ password: "pw-value-1" }] }
    return real as unknown as Record<string, unknown>
  }

  it("lists open sockets and servers with their endpoints, heap, resource usage and limits; no environment", () =>
    Effect.gen(function*() {
      const server = net.createServer((socket) => socket.end()).listen(0, "127.0.0.1")
      yield* Effect.async<void>((resume) => void server.once("listening", () => resume(Effect.void)))
      const port = (server.address() as net.AddressInfo).port
      const client = net.connect(port, "127.0.0.1")
      yield* Effect.async<void>((resume) => void client.once("connect", () => resume(Effect.void)))
      const now = processState() as unknown as State
      client.destroy()
      server.close()
      expect(now.handles).toContainEqual({ type: "server", address: `127.0.0.1:${port}` })
      expect(now.handles).toContainEqual(expect.objectContaining({ type: "socket", remote: `127.0.0.1:${port}` }))
      expect(now.resources.TCPServerWrap).toBeGreaterThanOrEqual(1)
      expect(now.heap.total_heap_size).toBeGreaterThan(0)
      expect(Object.keys(now.heapSpaces)).toContain("old_space")
      expect(now.resourceUsage.maxRSS).toBeGreaterThan(0)
      expect(now.limits["Max open files"]).toMatch(/^\S+ \/ \S+ files$/)
      expect(JSON.stringify(now)).not.toContain("environmentVariables")
    }))

  it("removes the backend's secrets in every spelling, secret-named values and URL passwords", () => {
    const clean = sanitizeState(state(), [token]) as unknown as State
    const text = JSON.stringify(clean)
    for (
      const secret of [
        token,
        encodeURIComponent(token),
        new URLSearchParams({ t: token }).toString().slice(2),
        "next-arg-secret",
        "db-password-1",
        "cs-value-1",
        "key-value-1",
        "pw-value-1"
      ]
    ) {
      expect(text).not.toContain(secret)
    }
    expect(clean.node.commandLine).toEqual([
      "node",
      "app.js",
      "--token",
      REDACTED,
      `--endpoint=https://h.example/post?token=${REDACTED}`,
      `--db=postgres://app:${REDACTED}@db/x`,
      `--client_secret=${REDACTED}`
    ])
    expect(clean.node.cwd).toBe(`/srv/${REDACTED}`)
  })

  it("redactArgs and scrubText leave ordinary text alone", () => {
    expect(redactArgs(["node", "--max-old-space-size=512", "serve", "--port", "80"], [])).toEqual([
      "node",
      "--max-old-space-size=512",
      "serve",
      "--port",
      "80"
    ])
    expect(scrubText("GET /users/42 took 3 ms", ["tok"])).toBe("GET /users/42 took 3 ms")
  })

  it("takeReport gives indented JSON of this process, without its environment", () => {
    process.env.BCD_REPORT_TEST_SECRET = "env-only-secret-42"
    try {
      const text = takeReport([Redacted.make("nothing")])
      expect(JSON.parse(text).node.pid).toBe(process.pid)
      expect(text).not.toContain("env-only-secret-42")
    } finally {
      delete process.env.BCD_REPORT_TEST_SECRET
    }
  })
})
