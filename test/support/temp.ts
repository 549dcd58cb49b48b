/**
 * Temporary folders for tests: one way to make them, one rule for when they go.
 *
 * Each is a fresh `mkdtemp` folder (mode 0700) under the system's temporary
 * directory, named `effect-bcd-test-XXXXXX`, and is removed with everything
 * in it (FIFOs, read-only files and sub-folders included):
 *
 * - in an Effect test, {@link tempDir} (or {@link withTempDir}): when its scope closes;
 * - in a plain test, {@link testTempDir}: when the running test finishes, pass or fail.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { onTestFinished } from "vitest"

const make = () => fs.mkdtempSync(path.join(os.tmpdir(), "effect-bcd-test-"))
const remove = (dir: string) => fs.rmSync(dir, { recursive: true, force: true })

/** A fresh folder, removed when the scope closes. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(make),
  (dir) => Effect.sync(() => remove(dir))
)

/**
 * Runs `f` with a fresh folder that is removed when `f` ends, however it
 * ends. Whatever `f` opens in the same scope closes first.
 */
export const withTempDir = <A, E, R>(
  f: (dir: string) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, Scope.Scope>> => Effect.scoped(Effect.flatMap(tempDir, f))

/**
 * For tests that are not Effects: a fresh folder for the running test,
 * removed when that test finishes, pass or fail. Call it inside a test
 * (not in a `describe` body or a hook); the test must not remove it itself.
 */
export const testTempDir = (): string => {
  const dir = make()
  onTestFinished(() => remove(dir))
  return dir
}
