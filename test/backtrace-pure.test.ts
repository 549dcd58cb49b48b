import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { Backtrace } from "../src/index.js"
import { parseRetryAfter, redactUrl, scrub } from "../src/internal/upload/policy.js"
import type { TraceRequest } from "../src/TracerBackend.js"
import { traceRequest } from "./support/backends.js"

const request = traceRequest

describe("Backtrace.renderArgs", () => {
  const kv = (key: string, value: string) => ({ _tag: "Attribute", key, value }) as const
  const classifier = (name: string) => ({ _tag: "Classifier", name }) as const
  const args = (...args: Array<string>) => ({ _tag: "Args", args }) as const
  const cases: ReadonlyArray<readonly [string, Partial<TraceRequest>, ReadonlyArray<string>]> = [
    ["bare request", {}, ["--load=", "--faulted", "4242", "--kv=fiber:7"]],
    ["extra args follow the pid", { args: ["--core", "-v"], base: [args("--core", "-v")] }, [
      "--load=",
      "--faulted",
      "4242",
      "--core",
      "-v",
      "--kv=fiber:7"
    ]],
    ["args missing from base (a request built by hand) are base options too", { args: ["--core"] }, [
      "--load=",
      "--faulted",
      "4242",
      "--core",
      "--kv=fiber:7"
    ]],
    ["base options in call order, across kinds", {
      args: ["--x"],
      attributes: [["region", "eu"], ["url", "https://a:1/b"]],
      classifiers: ["svc"],
      base: [kv("region", "eu"), classifier("svc"), args("--x"), kv("url", "https://a:1/b")]
    }, [
      "--load=",
      "--faulted",
      "4242",
      "--kv=region:eu",
      "--classifier=svc",
      "--x",
      "--kv=url:https://a:1/b",
      "--kv=fiber:7"
    ]],
    ["faulted thread", { faulted: true, tid: Option.some(99) }, [
      "--load=",
      "--faulted",
      "4242",
      "--fault-thread",
      "99",
      "--kv=fiber:7"
    ]],
    ["caller only", { callerOnly: true, tid: Option.some(99) }, [
      "--load=",
      "--faulted",
      "4242",
      "--thread",
      "99",
      "--kv=fiber:7"
    ]],
    ["caller only and faulted", { callerOnly: true, faulted: true, tid: Option.some(5) }, [
      "--load=",
      "--faulted",
      "4242",
      "--thread",
      "5",
      "--fault-thread",
      "5",
      "--kv=fiber:7"
    ]],
    ["no tid known: no thread flags", { callerOnly: true, faulted: true }, [
      "--load=",
      "--faulted",
      "4242",
      "--kv=fiber:7"
    ]],
    ["the error, its class, the per-trace classifiers", {
      error: Option.some("boom: at x"),
      attributes: [["error", "boom: at x"]],
      classifiers: ["TimeoutError", "db"]
    }, [
      "--load=",
      "--faulted",
      "4242",
      "--kv=error:boom: at x",
      "--classifier=TimeoutError",
      "--classifier=db",
      "--kv=fiber:7"
    ]],
    ["an empty message is passed empty, as in Go", { error: Option.some(""), attributes: [["error", ""]] }, [
      "--load=",
      "--faulted",
      "4242",
      "--kv=error:",
      "--kv=fiber:7"
    ]],
    ["everything: Go's order, then the fiber, the per-trace attributes and the span's", {
      args: ["--x"],
      attributes: [["k", "v"], ["error", "boom"], ["order", "42"], ["span", "checkout"]],
      classifiers: ["c", "Error", "urgent"],
      base: [args("--x"), kv("k", "v"), classifier("c")],
      error: Option.some("boom"),
      callerOnly: true,
      faulted: true,
      tid: Option.some(3),
      fiberId: 12
    }, [
      "--load=",
      "--faulted",
      "4242",
      "--x",
      "--kv=k:v",
      "--classifier=c",
      "--thread",
      "3",
      "--fault-thread",
      "3",
      "--kv=error:boom",
      "--classifier=Error",
      "--classifier=urgent",
      "--kv=fiber:12",
      "--kv=order:42",
      "--kv=span:checkout"
    ]]
  ]
  for (const [name, over, expected] of cases) {
    it(name, () => {
      expect(Backtrace.renderArgs(request(over))).toEqual(expected)
    })
  }
})

describe("Backtrace.snapshotPath", () => {
  const cases: ReadonlyArray<readonly [string, string, Option.Option<string>]> = [
    ["node.1.2.btt\n", "/out", Option.some("/out/node.1.2.btt")],
    ["  node.1.2.btt  \n\0garbage", "/out", Option.some("/out/node.1.2.btt")],
    ["/abs/x.btt\0", "/out", Option.some("/abs/x.btt")],
    ["sub/x.btt", "/out/", Option.some("/out/sub/x.btt")],
    ["", "/out", Option.none()],
    [" \n\t", "/out", Option.none()],
    ["\0node.1.2.btt", "/out", Option.none()]
  ]
  for (const [stdout, dir, expected] of cases) {
    it(JSON.stringify(stdout), () => {
      expect(Backtrace.snapshotPath(stdout, dir)).toEqual(expected)
    })
  }
})

describe("Backtrace.endpointUrl", () => {
  const ok: ReadonlyArray<readonly [string, string | undefined, string]> = [
    ["coronerd.example.com", "tok", "https://coronerd.example.com:6098/post?token=tok"],
    ["coronerd.example.com:8443", "tok", "https://coronerd.example.com:8443/post?token=tok"],
    ["http://coronerd.example.com", "tok", "http://coronerd.example.com:6098/post?token=tok"],
    ["https://coronerd.example.com:443", "tok", "https://coronerd.example.com/post?token=tok"],
    ["https://coronerd.example.com/", "tok", "https://coronerd.example.com:6098/post?token=tok"],
    ["https://coronerd.example.com:6098/post", "tok", "https://coronerd.example.com:6098/post?token=tok"],
    ["  10.0.0.5  ", "tok", "https://10.0.0.5:6098/post?token=tok"],
    ["[::1]", "tok", "https://[::1]:6098/post?token=tok"],
    ["[::1]:7000", "tok", "https://[::1]:7000/post?token=tok"],
    // an empty port is no port: the default applies, not the scheme's 443
    ["host:", "tok", "https://host:6098/post?token=tok"],
    ["https://[::1]:", "tok", "https://[::1]:6098/post?token=tok"],
    ["::1", "tok", "https://[::1]:6098/post?token=tok"],
    ["http://[fe80::1]:80", "tok", "http://[fe80::1]/post?token=tok"],
    ["HTTPS://Host.Example.COM", "tok", "https://host.example.com:6098/post?token=tok"],
    ["host", "a b&c=d/e?f#g+h%", "https://host:6098/post?token=a+b%26c%3Dd%2Fe%3Ff%23g%2Bh%25"],
    ["host#frag", "tok", "https://host:6098/post?token=tok"],
    ["https://host/post?format=minidump", "tok", "https://host:6098/post?format=minidump&token=tok"],
    // already holding the token: unchanged, the token argument ignored
    ["https://host:6098/post?token=inurl", "other", "https://host:6098/post?token=inurl"],
    ["https://host/post?token=inurl&format=minidump", undefined, "https://host/post?token=inurl&format=minidump"],
    ["host:9000/post?token=inurl", "", "https://host:9000/post?token=inurl"],
    [
      "https://submit.backtrace.io/myuniverse/0123abcd/minidump",
      undefined,
      "https://submit.backtrace.io/myuniverse/0123abcd/minidump"
    ],
    ["submit.backtrace.io/myuniverse/0123abcd/json", undefined, "https://submit.backtrace.io/myuniverse/0123abcd/json"],
    // scheme-relative, as Go's ConfigurePut reads it
    ["//example.com", "tok", "https://example.com:6098/post?token=tok"],
    ["//example.com:7000", "tok", "https://example.com:7000/post?token=tok"],
    ["//[::1]", "tok", "https://[::1]:6098/post?token=tok"],
    ["//example.com/post?token=inurl", undefined, "https://example.com/post?token=inurl"]
  ]
  for (const [endpoint, token, expected] of ok) {
    it(`${JSON.stringify(endpoint)} -> ${expected}`, () => {
      const url = Backtrace.endpointUrl(endpoint, token)
      expect(Either.map(url, String)).toEqual(Either.right(expected))
    })
  }

  it("reads a Redacted token and round-trips the encoding", () => {
    const url = Either.getOrThrow(Backtrace.endpointUrl("host", Redacted.make("p@ss/w?rd&x")))
    expect(url.searchParams.get("token")).toBe("p@ss/w?rd&x")
  })

  const bad: ReadonlyArray<readonly [string, string | undefined, string]> = [
    ["", "Zq9secret", "put.endpoint"],
    ["   ", "Zq9secret", "put.endpoint"],
    ["host", "", "put.token"],
    ["host", "  ", "put.token"],
    ["host", undefined, "put.token"],
    ["host", "a\0b", "put.token"],
    ["ftp://host", "Zq9secret", "put.endpoint"],
    ["https://", "Zq9secret", "put.endpoint"],
    [":6098", "Zq9secret", "put.endpoint"],
    ["//", "Zq9secret", "put.endpoint"],
    ["///post", "Zq9secret", "put.endpoint"],
    ["host:99999", "Zq9secret", "put.endpoint"],
    ["ho st", "Zq9secret", "put.endpoint"],
    ["host/api", "Zq9secret", "put.endpoint"],
    ["host/universe/token", "Zq9secret", "put.endpoint"],
    ["https://host/post?token=", "Zq9secret", "put.endpoint"]
  ]
  for (const [endpoint, token, field] of bad) {
    it(`rejects ${JSON.stringify(endpoint)} with token ${JSON.stringify(token)} (${field})`, () => {
      const result = Backtrace.endpointUrl(endpoint, token)
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left._tag).toBe("TracerConfigError")
        expect(result.left.field).toBe(field)
        if (token !== undefined && token.trim().length > 1) expect(result.left.message).not.toContain(token)
      }
    })
  }

  it("never repeats the token in an error", () => {
    const secret = "SECRET-TOKEN-123456"
    for (const endpoint of [`https://h/x?token=`, `ftp://h/${secret}`, `h/${secret}`, `ho st/${secret}`]) {
      const result = Backtrace.endpointUrl(endpoint, secret)
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left.message).not.toContain(secret)
        expect(JSON.stringify(result.left)).not.toContain(secret)
      }
    }
  })
})

describe("upload helpers", () => {
  it("redactUrl keeps only scheme, host and port", () => {
    expect(redactUrl(new URL("https://h:6098/post?token=abc"))).toBe("https://h:6098/post?…")
    expect(redactUrl(new URL("https://submit.backtrace.io/u/tok123/minidump"))).toBe("https://submit.backtrace.io/…")
    expect(redactUrl(new URL("https://user:pw@h/post?token=abc"))).toBe("https://h/post?…")
  })

  it("scrub removes the token in raw and encoded forms", () => {
    const url = new URL("https://h/post")
    url.searchParams.set("token", "a/b c")
    expect(scrub(url, `bad token a/b c, a%2Fb%20c, ${url.href}`)).not.toMatch(/a\/b c|a%2Fb%20c|a%2Fb\+c/)
  })

  it("scrub removes every spelling a URL can give the token: raw, percent, form (+), mixed, any hex case", () => {
    const token = "a~b!c'd(e)f g+h*i/é"
    const url = new URL("https://h/post")
    url.searchParams.set("token", token)
    const everyByte = (s: string) => [...Buffer.from(s)].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")
    const spellings = [
      token,
      encodeURIComponent(token),
      new URLSearchParams({ token }).toString().slice(6),
      new URLSearchParams({ token }).toString().slice(6).toLowerCase(),
      encodeURIComponent(token).replace(/%20/g, "+"),
      everyByte(token),
      everyByte(token).toUpperCase(),
      "a%7eb!c%27d(e)f+g%2Bh*i%2f%C3%a9"
    ]
    for (const spelling of spellings) {
      expect(scrub(url, `server said: token=${spelling}&x=1 (${spelling})`)).toBe(
        "server said: token=<redacted>&x=1 (<redacted>)"
      )
    }
    expect(scrub(url, "nothing secret here")).toBe("nothing secret here")
  })

  it("scrub removes a short token wherever it stands alone, and leaves longer words that contain it", () => {
    for (const token of ["x", "ab", "a b", "%"]) {
      const url = new URL("https://h/post")
      url.searchParams.set("token", token)
      const form = url.search.slice(7)
      expect(scrub(url, `POST /post?token=${form} failed: bad token ${token}.`)).toBe(
        "POST /post?token=<redacted> failed: bad token <redacted>."
      )
    }
    const url = new URL("https://h/post?token=ab")
    expect(scrub(url, "absent, cab, tab")).toBe("absent, cab, tab")
  })

  it("parseRetryAfter reads seconds and dates, bounded", () => {
    const max = Duration.seconds(60)
    expect(parseRetryAfter("2", max)).toEqual(Duration.seconds(2))
    expect(parseRetryAfter("600", max)).toEqual(max)
    expect(parseRetryAfter(new Date(10_000 + 5_000).toUTCString(), max, 10_000)).toEqual(Duration.seconds(5))
    expect(parseRetryAfter("soon", max)).toBeUndefined()
    expect(parseRetryAfter(undefined, max)).toBeUndefined()
  })
})
