/**
 * Disks and files under hostile conditions (issue 13, items 5-7): snapshot
 * modes whatever the umask, snapshots cut short by a full disk, and what a
 * failed or killed trace leaves behind.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import { Backtrace, Tracer, TracerConfig } from "../src/index.js"
import { FAKE_PTRACE } from "./support/backtrace.js"
import { tempDir } from "./support/temp.js"

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
