/**
 * The built `effect-bcd` command line as a child process: `upload` against a
 * real coronerd-compatible server on 127.0.0.1 (with failures, retries and
 * pruning), its progress under a real pseudo-terminal (util-linux `script`)
 * and in plain form, `check` on this machine, `trace` of a real child Node
 * program with eu-stack and with gdb, and bad usage.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterEach, beforeAll, describe, expect, it } from "vitest"
import * as Coronerd from "../examples/coronerd.js"
import { markSent } from "../src/internal/backtrace/sent.js"
import { sha256 } from "./support/backtrace.js"
import { BIN, buildCli, onPath, runCli, runProgram, shellQuote } from "./support/cli.js"
import { testTempDir } from "./support/temp.js"

const TOKEN = "cli-Token-0123456789"

beforeAll(() => buildCli(), 120_000)

const servers: Array<Coronerd.Coronerd> = []
const children: Array<ChildProcess> = []
afterEach(async () => {
  children.splice(0).forEach((c) => c.exitCode === null && c.signalCode === null && c.kill("SIGKILL"))
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

const server = async () => {
  const s = await Coronerd.start({ token: TOKEN })
  servers.push(s)
  return s
}

/** Snapshot files (random bytes) at `names` below `dir`, written a minute ago (past `--settle`); returns their paths. */
const snapshots = (dir: string, sizes: Record<string, number>): Array<string> =>
  Object.entries(sizes).map(([name, size]) => {
    const file = path.join(dir, name)
    fs.mkdirSync(path.dirname(file), { recursive: true })
    fs.writeFileSync(file, randomBytes(size), { mode: 0o600 })
    const minuteAgo = Date.now() / 1000 - 60
    fs.utimesSync(file, minuteAgo, minuteAgo)
    return file
  })

/** A stack trace's frame line, which no output of the command may hold. */
const STACK = /^\s+at .+\(.+:\d+:\d+\)$/m

/** A real Node program that idles until killed; resolves once it runs. */
const idleChild = async (): Promise<ChildProcess> => {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000); console.log('ready')"], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  children.push(child)
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once("data", () => resolve())
    child.once("exit", () => reject(new Error("the child exited")))
  })
  return child
}

/** Whether another user can read `file`: every folder above it searchable by others, the file readable. */
const othersCanRun = (file: string): boolean => {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) return false
  }
  return (fs.statSync(file).mode & 0o004) !== 0
}

const state = (pid: number) => /State:\s+(\S)/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]

describe("effect-bcd upload", () => {
  it("uploads every snapshot, removes each once accepted, keeps and lists a failed one (exit 1), never prints the token", async () => {
    const coronerd = await server()
    const dir = testTempDir()
    const files = snapshots(dir, { "a.btt": 3000, "sub/b.btt": 5000, "c.btt": 7000 })
    fs.writeFileSync(path.join(dir, "notes.txt"), "not a snapshot")
    const hashes = new Map(files.map((f) => [sha256(f), f]))
    coronerd.failNext(1, 400) // not transient: that file fails
    const run = await runCli(["upload", "--endpoint", coronerd.endpoint, "--json", dir], {
      env: { BCD_TOKEN: TOKEN }
    })
    expect(run.code).toBe(1)
    const summary = JSON.parse(run.stdout)
    expect(summary.uploaded).toHaveLength(2)
    expect(summary.failed).toHaveLength(1)
    expect(summary.failed[0].reason).toContain("server answered 400")
    expect(run.stderr).toContain(`failed ${summary.failed[0].path}: `)
    expect(run.stderr).toContain("1 snapshot(s) not uploaded")
    // What arrived is byte for byte what was on disk; those files are gone, the failed one stays.
    expect(coronerd.received).toHaveLength(2)
    for (const received of coronerd.received) {
      const file = hashes.get(received.sha256)
      expect(file).toBeDefined()
      expect(fs.existsSync(file!)).toBe(false)
    }
    expect(fs.existsSync(summary.failed[0].path)).toBe(true)
    expect(fs.existsSync(path.join(dir, "notes.txt"))).toBe(true)
    expect(run.stdout + run.stderr).not.toContain(TOKEN)
    expect(run.stderr).not.toMatch(STACK)
  })

  it("sends gdb and eu-stack text snapshots as Backtrace JSON reports, .btt as they are; passes over .partial", async () => {
    const coronerd = await server()
    const dir = testTempDir()
    const fixtures = path.join(import.meta.dirname, "fixtures", "snapshots")
    const [btt] = snapshots(dir, { "ptrace.btt": 2000 })
    const texts = ["gdb.txt", "eu-stack.txt"].map((name) => {
      const file = path.join(dir, `left-${name}`)
      fs.copyFileSync(path.join(fixtures, name), file)
      fs.utimesSync(file, Date.now() / 1000 - 60, Date.now() / 1000 - 60)
      return file
    })
    const partial = path.join(dir, "cut.txt.partial")
    fs.copyFileSync(path.join(fixtures, "gdb.txt"), partial)
    fs.utimesSync(partial, Date.now() / 1000 - 60, Date.now() / 1000 - 60)
    const textHashes = new Set(texts.map(sha256))
    const bttHash = sha256(btt!)
    const run = await runCli(["upload", "--endpoint", coronerd.endpoint, "--json", dir], { env: { BCD_TOKEN: TOKEN } })
    expect(run.code).toBe(0)
    const summary = JSON.parse(run.stdout)
    expect(summary.uploaded.map((u: { path: string }) => path.basename(u.path)).sort()).toEqual(
      ["left-eu-stack.txt", "left-gdb.txt", "ptrace.btt"]
    )
    expect(summary.skipped).toEqual([{ path: partial, reason: expect.stringContaining(".partial") }])
    const json = coronerd.received.filter((r) => r.format === "json")
    expect(json).toHaveLength(2)
    for (const received of json) {
      // The report names the error's class first, and carries the text snapshot byte for byte.
      expect((received.report!.json.classifiers as Array<string>)[0]).toBe("PaymentDeclined")
      expect(Object.keys(received.report!.json.threads as object).length).toBeGreaterThan(1)
      expect(textHashes.has(received.report!.attachments[0]!.sha256)).toBe(true)
    }
    expect(coronerd.received.filter((r) => r.sha256 === bttHash)).toHaveLength(1)
    expect(fs.readdirSync(dir)).toEqual(["cut.txt.partial"])
  })

  it("does not send again a snapshot a server already accepted (its folder's journal names it): removes it, lists it", async () => {
    const coronerd = await server()
    const dir = testTempDir()
    const [sent, fresh] = snapshots(dir, { "sent.btt": 1000, "fresh.btt": 1000 })
    markSent(sent!) // what putDir without unlink records after a 200
    const run = await runCli(["upload", "--endpoint", coronerd.endpoint, "--json", dir], { env: { BCD_TOKEN: TOKEN } })
    expect(run.code).toBe(0)
    const summary = JSON.parse(run.stdout)
    expect(summary.uploaded).toEqual([{ path: fresh, size: 1000 }])
    expect(summary.skipped).toEqual([{ path: sent, reason: expect.stringContaining("already accepted") }])
    expect(coronerd.received).toHaveLength(1)
    expect(fs.readdirSync(dir)).toEqual([])
  })

  it("retries a transient failure (503) and exits 0 when all were uploaded", async () => {
    const coronerd = await server()
    const dir = testTempDir()
    snapshots(dir, { "a.btt": 1000, "b.btt": 2000 })
    coronerd.failNext(1, 503)
    const run = await runCli(["upload", "--endpoint", coronerd.endpoint, "--token", TOKEN, dir])
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^uploaded 2 of 2 snapshots/)
    expect(coronerd.received).toHaveLength(2)
    expect(coronerd.requests.filter((r) => r.answered === 503)).toHaveLength(1)
    expect(run.stderr).toMatch(
      /^effect-bcd: \[backtrace\] warn: Upload attempt 1 of .+ failed: server answered 503/m
    )
    expect(fs.readdirSync(dir)).toEqual([])
  })

  it("--prune-older-than and --max-size delete the oldest snapshots without uploading them", async () => {
    const coronerd = await server()
    const dir = testTempDir()
    const [ancient, old, recent, newest] = snapshots(dir, {
      "ancient.btt": 1000,
      "old.btt": 1000,
      "recent.btt": 1000,
      "newest.btt": 1000
    })
    const day = 86_400
    const now = Date.now() / 1000
    fs.utimesSync(ancient!, now - 40 * day, now - 40 * day)
    fs.utimesSync(old!, now - 3 * day, now - 3 * day)
    fs.utimesSync(recent!, now - 2 * day, now - 2 * day)
    fs.utimesSync(newest!, now - 60, now - 60)
    const run = await runCli([
      "upload",
      "--endpoint",
      coronerd.endpoint,
      "--prune-older-than",
      "30d",
      "--max-size",
      "2000B",
      "--json",
      dir
    ], { env: { BCD_TOKEN: TOKEN } })
    expect(run.code).toBe(0)
    const summary = JSON.parse(run.stdout)
    expect(summary.pruned.map((p: { path: string; reason: string }) => [path.basename(p.path), p.reason])).toEqual([
      ["ancient.btt", "age"],
      ["old.btt", "size"]
    ])
    expect(summary.uploaded.map((u: { path: string }) => path.basename(u.path)).sort()).toEqual([
      "newest.btt",
      "recent.btt"
    ])
    expect(coronerd.received.map((r) => r.sha256).sort()).toHaveLength(2)
    expect(fs.readdirSync(dir)).toEqual([])
  })

  it("leaves alone a snapshot modified within --settle (it may still be written), and exits 0", async () => {
    const coronerd = await server()
    const dir = testTempDir()
    const [settled] = snapshots(dir, { "settled.btt": 1000 })
    const writing = path.join(dir, "writing.btt")
    fs.writeFileSync(writing, randomBytes(500), { mode: 0o600 })
    const run = await runCli(["upload", "--endpoint", coronerd.endpoint, "--settle", "30s", "--json", dir], {
      env: { BCD_TOKEN: TOKEN }
    })
    expect(run.code).toBe(0)
    const summary = JSON.parse(run.stdout)
    expect(summary.uploaded.map((u: { path: string }) => u.path)).toEqual([settled])
    expect(summary.skipped).toEqual([{ path: writing, reason: expect.stringContaining("within --settle") }])
    expect(run.stderr).toContain(`skipped ${writing}: modified `)
    expect(fs.existsSync(writing)).toBe(true)
    expect(coronerd.received).toHaveLength(1)
  })

  it("prints one plain line per file when stderr is not a terminal", async () => {
    const coronerd = await server()
    const dir = testTempDir()
    const [a, b] = snapshots(dir, { "a.btt": 2048, "b.btt": 4096 })
    const run = await runCli(["upload", "--endpoint", coronerd.endpoint, dir], { env: { BCD_TOKEN: TOKEN } })
    expect(run.code).toBe(0)
    expect(run.stderr.split("\n").filter((l) => l !== "").sort()).toEqual([
      `uploaded ${a} (2.0 KiB)`,
      `uploaded ${b} (4.0 KiB)`
    ])
    expect(run.stderr).not.toContain("\r")
  })

  it.skipIf(!onPath("script"))("draws a progress bar (files, bytes, speed) under a pseudo-terminal", async () => {
    const coronerd = await server()
    const dir = testTempDir()
    snapshots(dir, { "a.btt": 1024, "b.btt": 1024, "c.btt": 2048 })
    coronerd.failNext(1, 503) // its retry's warning goes above the bar
    // `script` runs one command string in a shell: every argument is quoted; the token stays in the environment.
    const command = [process.execPath, BIN, "upload", "--endpoint", coronerd.endpoint, dir].map(shellQuote).join(" ")
    const run = await runProgram("script", ["-qfec", command, "/dev/null"], { env: { BCD_TOKEN: TOKEN } })
    expect(run.code).toBe(0)
    // The bar is redrawn in place (carriage return, erase line) and ends full.
    expect(run.stdout).toContain("\r\x1b[2K[")
    expect(run.stdout).toMatch(/\[#{20}\] 3\/3 files {2}4\.0 KiB\/4\.0 KiB {2}[\d.]+ (B|KiB|MiB)\/s/)
    expect(run.stdout).toContain("0/3 files")
    expect(run.stdout).toMatch(
      /\r\x1b\[2Keffect-bcd: \[backtrace\] warn: Upload attempt 1 of \S+ failed: server answered 503/
    )
    expect(run.stdout).not.toContain("uploaded " + dir)
    expect(run.stdout).toMatch(/uploaded 3 of 3 snapshots/)
    expect(coronerd.received).toHaveLength(3)
  })
})

describe("effect-bcd check", () => {
  it("prints this machine's pre-flight: the tracer, Yama, CAP_SYS_PTRACE, and the verdict", async () => {
    const run = await runCli(["check", "--backend", "gdb", "--json"])
    const report = JSON.parse(run.stdout)
    const yama = fs.existsSync("/proc/sys/kernel/yama/ptrace_scope")
      ? Number(fs.readFileSync("/proc/sys/kernel/yama/ptrace_scope", "utf8"))
      : null
    expect(report.ptraceScope).toBe(yama)
    expect(report.tracer).toBe("gdb")
    expect(report.tracerPath).toEqual(onPath("gdb") ? expect.stringMatching(/\/gdb$/) : null)
    const cap = (BigInt(`0x${/CapEff:\s+(\S+)/.exec(fs.readFileSync("/proc/self/status", "utf8"))![1]}`) >> 19n) & 1n
    expect(report.capSysPtrace).toBe(cap === 1n)
    expect(run.code).toBe(report.refused ? 1 : 0)
    const text = await runCli(["check", "--backend", "gdb"])
    expect(text.stdout).toContain(`yama ptrace_scope: ${yama ?? "absent"}`)
    expect(text.stdout).toMatch(/this process: +a trace would be (allowed|refused)/)
  })

  it("--pid: a process we may trace is allowed; a pid that names no process is bad usage (exit 2)", async () => {
    const child = await idleChild()
    const run = await runCli(["check", "--pid", String(child.pid), "--json"])
    const report = JSON.parse(run.stdout)
    expect(report.pid).toBe(child.pid)
    expect(run.code).toBe(report.refused ? 1 : 0)
    const text = await runCli(["check", "--pid", String(child.pid)])
    expect(text.stdout).toContain(`process ${child.pid}:    ${report.refused ? "refused" : "allowed"}`)
    const max = Number(fs.readFileSync("/proc/sys/kernel/pid_max", "utf8"))
    const none = await runCli(["check", "--pid", String(max + 1)])
    expect(none.code).toBe(2)
    expect(none.stderr).toBe(`effect-bcd: no process ${max + 1}\n`)
  })

  it("names a missing tracer and its fix, and exits 1", async () => {
    const run = await runCli(["check", "--tracer", "/nonexistent/eu-stack"])
    expect(run.code).toBe(1)
    expect(run.stdout).toContain("/nonexistent/eu-stack (not found)")
    expect(run.stdout).toContain("the tracer /nonexistent/eu-stack is not found or not executable")
    expect(run.stderr).toContain("effect-bcd: a trace would be refused")
  })
})

describe("effect-bcd trace", () => {
  for (const backend of ["eu-stack", "gdb"] as const) {
    it.skipIf(!onPath(backend))(
      `${backend}: snapshots a running child Node program, which goes on running`,
      async () => {
        const child = await idleChild()
        const pid = child.pid!
        const out = testTempDir()
        const run = await runCli(["trace", "--backend", backend, "--out", out, "--json", String(pid)])
        expect(run.stderr).toBe("")
        expect(run.code).toBe(0)
        const result = JSON.parse(run.stdout)
        expect(result).toMatchObject({ pid, backend, uploaded: false })
        const text = fs.readFileSync(result.snapshot, "utf8")
        expect(path.dirname(result.snapshot)).toBe(out)
        expect(fs.statSync(result.snapshot).mode & 0o777).toBe(0o600)
        expect(text).toContain(`effect-bcd snapshot (${backend})`)
        expect(text).toMatch(new RegExp(`^pid: +${pid}$`, "m"))
        expect(text).toMatch(/^program: +node$/m)
        // The child's own native frames: its event loop waits in epoll.
        expect(text).toMatch(/epoll_wait|epoll_pwait/)
        expect(state(pid)).not.toBe("T")
        expect(child.exitCode).toBe(null)
      }
    )
  }

  /** A stand-in for ptrace that leaves its target stopped, as a tracer killed mid-attach does (pitfall 12). */
  const stoppingTracer = (dir: string) => {
    const tracer = path.join(dir, "stopping-tracer")
    fs.writeFileSync(
      tracer,
      [
        "#!/bin/sh",
        // The pid: the first argument that is a number (ptrace's argv is --load= --faulted <pid> …).
        `for a; do case "$a" in *[!0-9]*|"") ;; *) pid=$a; break ;; esac; done`,
        `kill -STOP "$pid"`,
        "exec sleep 60",
        ""
      ].join("\n"),
      { mode: 0o700 }
    )
    return tracer
  }

  it("a tracer that stops the target and hangs is killed at the deadline, and the target is resumed (exit 1)", async () => {
    const child = await idleChild()
    const dir = testTempDir()
    const tracer = stoppingTracer(dir)
    const run = await runCli([
      "trace",
      "--backend",
      "backtrace",
      "--tracer",
      tracer,
      "--out",
      dir,
      "--timeout",
      "1s",
      "--json",
      String(child.pid)
    ])
    expect(run.code).toBe(1)
    expect(JSON.parse(run.stdout)).toEqual({
      pid: child.pid,
      backend: "backtrace",
      error: "Tracer execution timed out"
    })
    expect(run.stderr).toContain("effect-bcd: Tracer execution timed out")
    expect(run.stderr).not.toMatch(STACK)
    expect(state(child.pid!)).not.toBe("T")
    expect(child.exitCode).toBe(null)
  })

  it("Ctrl-C (SIGINT) kills the tracer, resumes the target, and exits 130", async () => {
    const child = await idleChild()
    const dir = testTempDir()
    const cli = spawn(process.execPath, [
      BIN,
      "trace",
      "--backend",
      "backtrace",
      "--tracer",
      stoppingTracer(dir),
      "--out",
      dir,
      String(child.pid)
    ], { stdio: ["ignore", "ignore", "pipe"] })
    children.push(cli)
    let stderr = ""
    cli.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    // Interrupted once the tracer has stopped the target.
    const deadline = Date.now() + 30_000
    while (state(child.pid!) !== "T" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(state(child.pid!)).toBe("T")
    cli.kill("SIGINT")
    const code = await new Promise<number | null>((resolve) => cli.once("exit", (c) => resolve(c)))
    expect(code).toBe(130)
    expect(stderr).not.toMatch(STACK)
    expect(state(child.pid!)).not.toBe("T")
  })

  it.skipIf(!onPath("eu-stack"))("--upload sends a Backtrace JSON report with the snapshot, keeps it", async () => {
    const coronerd = await server()
    const child = await idleChild()
    const out = testTempDir()
    const run = await runCli(
      ["trace", "--out", out, "--upload", "--endpoint", coronerd.endpoint, "--json", String(child.pid)],
      { env: { BCD_TOKEN: TOKEN } }
    )
    expect(run.code).toBe(0)
    const result = JSON.parse(run.stdout)
    expect(result.uploaded).toBe(true)
    expect(coronerd.received).toHaveLength(1)
    // A Backtrace endpoint gets a JSON report, the snapshot attached.
    expect(coronerd.received[0]!.format).toBe("json")
    expect(coronerd.received[0]!.report?.attachments[0]?.sha256).toBe(sha256(result.snapshot))
  })
})

describe("bad usage: exit 2 (or 1 for a refused trace) with the reason, never a stack trace", () => {
  it("an unknown flag, on every command", async () => {
    const cases = [
      ["upload", "--endpoint", "http://127.0.0.1:9", testTempDir(), "--bogus"],
      ["check", "--bogus"],
      ["trace", "1", "--bogus"]
    ]
    for (const args of cases) {
      const run = await runCli(args)
      expect({ args, code: run.code }).toEqual({ args, code: 2 })
      expect(run.stderr).toContain("Received unknown argument: '--bogus'")
      expect(run.stdout + run.stderr).not.toMatch(STACK)
    }
  })

  it("an unknown command, no command, a missing folder, a bad size, a bad endpoint", async () => {
    const dir = testTempDir()
    const cases: Array<[ReadonlyArray<string>, string]> = [
      [["frobnicate"], "Invalid subcommand for effect-bcd - use one of 'upload', 'check', 'trace'"],
      [[], "give a command"],
      [["upload", "--endpoint", "http://127.0.0.1:9", path.join(dir, "missing")], "must exist"],
      [["upload", "--endpoint", "http://127.0.0.1:9", "--max-size", "lots", dir], "is not a size"],
      [["upload", "--endpoint", "ftp://127.0.0.1", "--token", "t", dir], "unsupported scheme"],
      [["trace", "not-a-pid"], "not-a-pid"],
      [["trace", "--timeout", "soon", "1"], "is not an age"]
    ]
    for (const [args, reason] of cases) {
      const run = await runCli(args, { env: { BCD_TOKEN: "", BCD_ENDPOINT: "" } })
      expect({ args, code: run.code }).toEqual({ args, code: 2 })
      expect(run.stdout + run.stderr).toContain(reason)
      expect(run.stdout + run.stderr).not.toMatch(STACK)
    }
  })

  it("a pid that does not exist", async () => {
    // A pid above the kernel's pid_max cannot exist.
    const max = Number(fs.readFileSync("/proc/sys/kernel/pid_max", "utf8"))
    const run = await runCli(["trace", String(max + 1)])
    expect(run.code).toBe(2)
    expect(run.stderr).toBe(`effect-bcd: no process ${max + 1}\n`)
  })

  it.skipIf(process.getuid?.() !== 0 || !onPath("setpriv"))(
    "a pid we may not trace: another user's process, from a user without CAP_SYS_PTRACE",
    async (context) => {
      // The build must be readable by that user (a checkout in a private folder is not).
      if (!othersCanRun(BIN)) return context.skip()
      const child = await idleChild() // runs as root
      const run = await runProgram("setpriv", [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        process.execPath,
        BIN,
        "trace",
        String(child.pid)
      ], { cwd: "/" })
      expect(run.code).toBe(1)
      expect(run.stderr).toContain(`may not trace process ${child.pid}: it runs as uid 0`)
      expect(run.stderr).not.toMatch(STACK)
      expect(state(child.pid!)).not.toBe("T")
    }
  )
})
