/**
 * Where tracers run (TracerConfig.runner) and what they see of the
 * environment (TracerConfig.tracerEnvironment).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as Tracer from "../src/Tracer.js"
import * as TracerConfig from "../src/TracerConfig.js"
import { shBackend } from "./support/backends.js"
import { noCooldown } from "./support/config.js"

/** A tracer that prints its environment, its parent's name and its grandparent's pid (read while it runs). */
const envBackend = (secrets: ReadonlyArray<string> = []) =>
  shBackend(
    "env; echo \"parent=$(cat /proc/$PPID/comm)\"; echo \"grandparent=$(cut -d\")\" -f2 /proc/$PPID/stat | cut -d\" \" -f3)\"",
    () => [],
    { secrets: secrets.map(Redacted.make) }
  )

const field = (stdout: string, name: string) => new RegExp(`^${name}=(.*)$`, "m").exec(stdout)?.[1]

const withEnv = <A, E, R>(vars: Record<string, string>, self: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Object.assign(process.env, vars)),
    () => self,
    () => Effect.sync(() => Object.keys(vars).forEach((key) => delete process.env[key]))
  )

describe("TracerConfig.runner", () => {
  it.live("by default the tracer is a child of the supervisor, which is a child of this process", () =>
    Effect.gen(function*() {
      const result = yield* Tracer.trace()
      expect(field(result.stdout, "parent")).toBe("effect-bcd-supe") // the supervisor's title, as comm keeps it
      expect(field(result.stdout, "grandparent")).toBe(String(process.pid))
    }).pipe(Effect.provide(Layer.merge(Tracer.layer(envBackend()), noCooldown))))

  it.live("runner 'inline' spawns the tracer from this process", () =>
    Effect.gen(function*() {
      const result = yield* Tracer.trace()
      // Spawned from this process under coreutils `timeout`, the inline runner's watchdog.
      expect(field(result.stdout, "parent")).toBe("timeout")
      expect(field(result.stdout, "grandparent")).toBe(String(process.pid))
    }).pipe(
      Effect.provide(Layer.merge(Tracer.layer(envBackend()), TracerConfig.layer({ rateLimit: 0, runner: "inline" })))
    ))
})

describe("TracerConfig.tracerEnvironment", () => {
  const vars = { BCD_TOKEN: "t0ken-abc", MY_UPLOAD_TOKEN: "s3cret-upload-value", UNRELATED_SETTING: "kept" }

  it.live("by default drops BCD_* and any variable holding a backend's secret, and keeps the rest", () =>
    withEnv(
      vars,
      Effect.gen(function*() {
        const result = yield* Tracer.trace()
        expect(result.stdout).toContain("UNRELATED_SETTING=kept")
        expect(result.stdout).not.toContain("BCD_TOKEN")
        expect(result.stdout).not.toContain("t0ken-abc")
        expect(result.stdout).not.toContain("s3cret-upload-value")
      })
    ).pipe(
      Effect.provide(
        Layer.merge(Tracer.layer(envBackend(["s3cret-upload-value"])), noCooldown)
      )
    ))

  it.live("'inherit' passes the whole environment", () =>
    withEnv(
      vars,
      Effect.gen(function*() {
        const result = yield* Tracer.trace()
        expect(result.stdout).toContain("BCD_TOKEN=t0ken-abc")
        expect(result.stdout).toContain("MY_UPLOAD_TOKEN=s3cret-upload-value")
      })
    ).pipe(
      Effect.provide(
        Layer.merge(
          Tracer.layer(envBackend(["s3cret-upload-value"])),
          TracerConfig.layer({ rateLimit: 0, tracerEnvironment: "inherit" })
        )
      )
    ))
})
