import { describe, expect, it } from "@effect/vitest"
import type { Duration } from "effect"
import { Effect, Exit, Layer, Option, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { SnapshotUploadError } from "../src/TraceError.js"
import * as Tracer from "../src/Tracer.js"
import type { TraceResult } from "../src/TracerBackend.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { shBackend } from "./support/backends.js"
import { noCooldown } from "./support/config.js"
import { withTempDir } from "./support/temp.js"

/** A backend whose tracer writes a snapshot file and whose put moves it to `uploaded/` after `delay`. */
const fileBackend = (dir: string, delay: Duration.DurationInput = "0 millis", fail = false) =>
  shBackend("f=\"$1/snap.$$\"; echo snapshot > \"$f\"; echo \"$f\"", () => [dir], {
    snapshot: (stdout) => Option.some(stdout.trim()),
    put: (result: TraceResult) =>
      Effect.gen(function*() {
        yield* Effect.sleep(delay)
        const file = Option.getOrThrow(result.snapshot)
        if (fail) return yield* new SnapshotUploadError({ path: file, reason: "server said no", status: 500 })
        fs.mkdirSync(path.join(dir, "uploaded"), { recursive: true })
        fs.renameSync(file, path.join(dir, "uploaded", path.basename(file)))
      })
  })

const uploaded = (dir: string) =>
  fs.existsSync(path.join(dir, "uploaded")) ? fs.readdirSync(path.join(dir, "uploaded")) : []

describe("uploads", () => {
  it.live("with synchronousPut the upload runs inside trace, and its failure is trace's error", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const ok = yield* Tracer.make(fileBackend(dir))
        const result = yield* ok.trace()
        expect(uploaded(dir)).toEqual([path.basename(Option.getOrThrow(result.snapshot))])
        const failing = yield* Tracer.make(fileBackend(dir, "0 millis", true))
        const error = yield* Effect.flip(failing.trace())
        expect(error).toBeInstanceOf(SnapshotUploadError)
        expect(error).toMatchObject({ status: 500 })
        // The snapshot that was not uploaded is still there.
        expect(fs.existsSync((error as SnapshotUploadError).path)).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(noCooldown))
    ))

  it.live("without synchronousPut, trace returns first and awaitPending waits for the upload", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        yield* Tracer.trace()
        expect(uploaded(dir)).toEqual([])
        yield* Tracer.awaitPending
        expect(uploaded(dir)).toHaveLength(1)
      }).pipe(Effect.provide(Layer.merge(
        Tracer.layer(fileBackend(dir, "300 millis")),
        TracerConfig.layer({ rateLimit: 0, synchronousPut: false })
      )))
    ))

  it.live("closing the layer waits for pending uploads", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const tracer = yield* Tracer.make(fileBackend(dir, "300 millis")).pipe(Scope.extend(scope))
        yield* tracer.trace()
        expect(uploaded(dir)).toEqual([])
        yield* Scope.close(scope, Exit.void)
        expect(uploaded(dir)).toHaveLength(1)
      }).pipe(Effect.provide(TracerConfig.layer({ rateLimit: 0, synchronousPut: false })))
    ))

  it.live("closing the layer waits no longer than drainTimeout", () =>
    withTempDir((dir) =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const tracer = yield* Tracer.make(fileBackend(dir, "20 seconds")).pipe(Scope.extend(scope))
        yield* tracer.trace()
        const started = Date.now()
        yield* Scope.close(scope, Exit.void)
        expect(Date.now() - started).toBeLessThan(2_000)
        expect(uploaded(dir)).toEqual([])
        // The snapshot that never got uploaded is kept.
        expect(fs.readdirSync(dir).filter((f) => f.startsWith("snap."))).toHaveLength(1)
      }).pipe(Effect.provide(TracerConfig.layer({ rateLimit: 0, synchronousPut: false, drainTimeout: "300 millis" })))
    ))
})
