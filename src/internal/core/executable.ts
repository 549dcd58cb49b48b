/**
 * Finding programs without a shell.
 *
 * @internal
 */
import * as fs from "node:fs"
import * as path from "node:path"

const isExecutableFile = (file: string): boolean => {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/**
 * Resolves `program` as `execvp` would: a name with a slash is a path
 * (relative to `cwd`), anything else is looked up in `PATH`.
 */
export const findExecutable = (program: string, pathEnv: string | undefined, cwd?: string): string | undefined => {
  if (program === "") return undefined
  if (program.includes("/")) {
    const file = path.resolve(cwd ?? process.cwd(), program)
    return isExecutableFile(file) ? file : undefined
  }
  for (const dir of (pathEnv ?? "/usr/local/bin:/usr/bin:/bin").split(":")) {
    if (dir === "") continue
    const file = path.join(dir, program)
    if (isExecutableFile(file)) return file
  }
  return undefined
}
