#!/usr/bin/env node
/**
 * The `effect-bcd` command (docs/cli.md). It needs the optional peer
 * dependencies `@effect/cli` and `@effect/platform-node`; without them it
 * says which to install and exits 2.
 *
 * @internal
 */
import * as fs from "node:fs"

const pkg = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  readonly version: string
}

try {
  const { main } = await import("../internal/cli/main.js")
  main(process.argv, pkg.version)
} catch (error) {
  const code = (error as NodeJS.ErrnoException).code
  if (code !== "ERR_MODULE_NOT_FOUND") throw error
  const missing = /Cannot find package '([^']+)'/.exec(String((error as Error).message))?.[1] ?? "a dependency"
  process.stderr.write(
    `effect-bcd: the command needs ${missing}, which is not installed. It needs effect-bcd's optional peers` +
      ` @effect/cli and @effect/platform-node (and their own peers), at the versions that match your effect:` +
      ` npm i @effect/cli@0.77 @effect/platform-node@0.108 for effect 3.22 and @effect/platform 0.97\n`
  )
  process.exitCode = 2
}
