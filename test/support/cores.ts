/** Core files small enough for tests. */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"

/**
 * Keeps this process's cores small for the rest of the scope: no anonymous
 * memory (gdb honours `coredump_filter`).
 */
export const smallCores = Effect.acquireRelease(
  Effect.sync(() => {
    const saved = fs.readFileSync("/proc/self/coredump_filter", "utf8").trim()
    fs.writeFileSync("/proc/self/coredump_filter", "0")
    return saved
  }),
  // The kernel reads a leading 0 as octal: "00000033" would come back as 0x1b. The hex it printed goes back as hex.
  (saved) => Effect.sync(() => fs.writeFileSync("/proc/self/coredump_filter", `0x${saved}`))
)
