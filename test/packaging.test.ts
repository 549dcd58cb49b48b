/**
 * `@effect/platform-node` is an optional peer dependency: only the `live`
 * layers with uploads load it, and a missing one is a `TracerConfigError`
 * naming the package. Real child programs, one with the package made
 * unresolvable; a real coronerd-compatible server on 127.0.0.1.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Coronerd from "../examples/coronerd.js"
import { fixture } from "./support/child.js"
import { tempDir } from "./support/temp.js"

const FAKE_PTRACE = fileURLToPath(new URL("./fixtures/fake-ptrace.mjs", import.meta.url))
const HIDE = fileURLToPath(new URL("./fixtures/hide-platform-node.mjs", import.meta.url))

const run = (hide: boolean) =>
  Effect.gen(function*() {
    const server = yield* Coronerd.make({ token: "tok" })
    const dir = yield* tempDir
    const child = yield* fixture(
      "live-layers",
      { tracerPath: FAKE_PTRACE, outputDir: path.join(dir, "snapshots"), endpoint: server.endpoint },
      { cwd: dir, ...(hide ? { imports: [HIDE] } : {}) }
    )
    const without = yield* child.line((l) => l.name === "without put")
    const withPut = yield* child.line((l) => l.name === "with put")
    expect(yield* child.exit).toEqual({ code: 0, signal: null })
    return { without, withPut, received: server.received.length }
  }).pipe(Effect.scoped)

describe("@effect/platform-node, an optional peer dependency", () => {
  it.live("missing: Backtrace.live without put still traces; with put the layer fails with TracerConfigError naming the package", () =>
    Effect.gen(function*() {
      const { received, withPut, without } = yield* run(true)
      expect(without).toEqual({ name: "without put", ok: true })
      expect(withPut).toMatchObject({ name: "with put", ok: false, tag: "TracerConfigError", field: "put" })
      expect(withPut.message).toContain("optional peer dependency @effect/platform-node")
      expect(withPut.message).toContain("Cannot find package '@effect/platform-node'")
      expect(received).toBe(0)
    }))

  it.live("installed (the control): with put the snapshot is uploaded", () =>
    Effect.gen(function*() {
      const { received, withPut, without } = yield* run(false)
      expect(without).toEqual({ name: "without put", ok: true })
      expect(withPut).toEqual({ name: "with put", ok: true })
      expect(received).toBe(1)
    }))
})
