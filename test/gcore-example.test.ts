/**
 * The custom backend of docs/backends.md (examples/gcore.ts), run for real:
 * gcore (shipped with gdb) writes a core file of this test process.
 */
import { expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Gcore from "../examples/gcore.js"
import { Tracer } from "../src/index.js"
import { noCooldown } from "./support/config.js"
import { withTempDir } from "./support/temp.js"

it.live("the gcore example backend writes a core of this process that gdb reads", () => {
  const filter = "/proc/self/coredump_filter"
  const saved = fs.readFileSync(filter, "utf8").trim()
  return withTempDir((dir) =>
    Effect.gen(function*() {
      // A small core is enough to show the backend works: leave anonymous memory out.
      yield* Effect.acquireRelease(
        Effect.sync(() => fs.writeFileSync(filter, "0")),
        () => Effect.sync(() => fs.writeFileSync(filter, saved))
      )
      const result = yield* Tracer.trace(new Error("example"))
      const core = Option.getOrThrow(result.snapshot)
      expect(path.dirname(core)).toBe(dir)
      expect(path.basename(core)).toMatch(new RegExp(`^core\\.\\d+\\.${process.pid}$`))
      // It holds this process's memory: readable by this user only.
      expect(fs.statSync(core).mode & 0o777).toBe(0o600)
      const read = execFileSync("gdb", ["-batch", "-nx", "-c", core, process.execPath, "-ex", "info threads"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"]
      })
      expect(read).toContain(`LWP ${process.pid}`)
    }).pipe(
      Effect.scoped,
      Effect.provide(Layer.merge(Gcore.layer(dir), noCooldown))
    )
  )
})
