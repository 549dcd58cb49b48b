/**
 * The built `effect-bcd` command, run as a child process: `buildCli` compiles
 * src/ once (incrementally) into node_modules/.cache, where the output still
 * resolves this repository's node_modules, and `runCli` runs the bin with an
 * argv array (never a shell string) and collects its exit code and output.
 */
import { execFile, execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "../..")
const out = path.join(root, "node_modules/.cache/effect-bcd-cli")

/** The built bin's path. */
export const BIN = path.join(out, "dist/bin/effect-bcd.js")

/** Compiles src/ (the package's own build config) into the cache; about 15 s, less when unchanged. */
export const buildCli = (): void => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  execFileSync(process.execPath, [
    tsc,
    "-p",
    path.join(root, "tsconfig.build.json"),
    "--outDir",
    path.join(out, "dist"),
    "--declaration",
    "false",
    "--sourceMap",
    "false",
    "--incremental",
    "--tsBuildInfoFile",
    path.join(out, "tsbuildinfo")
  ], { cwd: root, stdio: "inherit" })
  // The bin reads its version from the package.json beside dist/.
  fs.copyFileSync(path.join(root, "package.json"), path.join(out, "package.json"))
  fs.chmodSync(BIN, 0o755)
}

/** How one run ended. */
export interface Run {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `program args…` (no shell), with `env` added to this process's environment. */
export const runProgram = (
  program: string,
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly cwd?: string; readonly timeoutMs?: number } = {}
): Promise<Run> =>
  new Promise((resolve) => {
    const child = execFile(program, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      timeout: options.timeoutMs ?? 60_000,
      maxBuffer: 16 * 1024 * 1024
    }, (error, stdout, stderr) => {
      resolve({
        code: child.exitCode ?? (error as { code?: number } | null)?.code ?? null,
        signal: child.signalCode,
        stdout,
        stderr
      })
    })
  })

/** Runs the built `effect-bcd` with `args`. */
export const runCli = (
  args: ReadonlyArray<string>,
  options: { readonly env?: NodeJS.ProcessEnv; readonly cwd?: string; readonly timeoutMs?: number } = {}
): Promise<Run> => runProgram(process.execPath, [BIN, ...args], options)

/** `arg` quoted for a POSIX shell: for `script -c`, which takes one command string. */
export const shellQuote = (arg: string): string => `'${arg.replaceAll("'", `'\\''`)}'`

/** Whether a program is on PATH. */
export const onPath = (name: string): boolean =>
  (process.env.PATH ?? "").split(":").some((dir) => {
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
