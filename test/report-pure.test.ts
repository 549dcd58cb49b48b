/**
 * The pure parts of a snapshot's Effect context: the header's `Cause.pretty`
 * with Effect's span stack, and Node's report sanitised (a real report of
 * this process, with secrets planted in it).
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Effect, Exit, Option, Redacted } from "effect"
import * as Header from "../src/internal/snapshot/header.js"
import { redactArgs, REDACTED, sanitizeReport, scrubText, takeReport } from "../src/internal/snapshot/report.js"
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

/** The parts of a report these tests read or plant secrets in. */
interface Report {
  header: { commandLine: Array<string>; cwd: string; networkInterfaces?: unknown }
  libuv: Array<unknown>
  javascriptHeap: { totalMemory: number }
  resourceUsage?: unknown
  environmentVariables?: unknown
  javascriptStack?: unknown
  nativeStack?: unknown
  custom?: unknown
}

describe("sanitizing Node's report", () => {
  const token = "tok-3f9a~!'()x y"
  const report = () => {
    const real = process.report.getReport() as unknown as Report
    real.header.commandLine = [
      "node",
      "app.js",
      "--token",
      "next-arg-secret",
      `--endpoint=https://h.example/post?token=${encodeURIComponent(token)}`,
      "--db=postgres://app:db-password-1@db/x",
      "--client_secret=cs-value-1"
    ]
    real.header.cwd = `/srv/${token}`
    real.libuv.push({
      type: "tcp",
      remoteEndpoint: { host: "h.example" },
      note: `form ${encodeURIComponent(token).replace(/%20/g, "+")}`
    })
    real.custom = { apiKey: "key-value-1", nested: [{ password: "pw-value-1" }] }
    return real
  }

  it("drops the environment, the stacks and the network interfaces; keeps libuv, heap and resource usage", () => {
    const clean = sanitizeReport(report(), [token]) as unknown as Report
    expect(Object.keys(clean)).not.toEqual(expect.arrayContaining(["environmentVariables"]))
    expect(clean.environmentVariables).toBeUndefined()
    expect(clean.javascriptStack).toBeUndefined()
    expect(clean.nativeStack).toBeUndefined()
    expect(clean.header.networkInterfaces).toBeUndefined()
    expect(clean.libuv.length).toBeGreaterThan(0)
    expect(clean.javascriptHeap.totalMemory).toBeGreaterThan(0)
    expect(clean.resourceUsage).toBeDefined()
  })

  it("removes the backend's secrets in every spelling, secret-named values and URL passwords", () => {
    const text = JSON.stringify(sanitizeReport(report(), [token]))
    for (
      const secret of [
        token,
        encodeURIComponent(token),
        "next-arg-secret",
        "db-password-1",
        "cs-value-1",
        "key-value-1",
        "pw-value-1"
      ]
    ) {
      expect(text).not.toContain(secret)
    }
    const clean = sanitizeReport(report(), [token]) as unknown as Report
    expect(clean.header.commandLine).toEqual([
      "node",
      "app.js",
      "--token",
      REDACTED,
      `--endpoint=https://h.example/post?token=${REDACTED}`,
      `--db=postgres://app:${REDACTED}@db/x`,
      `--client_secret=${REDACTED}`
    ])
    expect(clean.header.cwd).toBe(`/srv/${REDACTED}`)
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
      const reporter = process.report as typeof process.report & { excludeNetwork?: boolean }
      const before = reporter.excludeNetwork
      const text = takeReport([Redacted.make("nothing")])
      expect(JSON.parse(text).header.processId).toBe(process.pid)
      expect(text).not.toContain("env-only-secret-42")
      // Taken without network lookups, and the program's own setting left as it was.
      expect(reporter.excludeNetwork).toBe(before)
    } finally {
      delete process.env.BCD_REPORT_TEST_SECRET
    }
  })
})
