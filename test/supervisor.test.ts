/**
 * The out-of-process runner (src/internal/runner): real processes, real gdb.
 * Tracers that stop a process stop a child host (test/fixtures/supervisor-host.ts),
 * never this worker, and every such test has an outside guard that resumes the
 * host after a bound, so that a failure fails instead of hanging.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Client from "../src/internal/runner/client.js"
import { alive, gone, readRecord } from "./support/backends.js"
import { fixture } from "./support/child.js"
import { tempDir } from "./support/temp.js"

const GDB = "/usr/bin/gdb"
const hasGdb = fs.existsSync(GDB)
const hideKoffi = pathToFileURL(path.resolve(import.meta.dirname, "fixtures/hide-koffi.mjs")).href

// ---- /proc helpers ---------------------------------------------------------------

const stat = (pid: number) => {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
    return { state: fields[0]!, ppid: Number(fields[1]), pgrp: Number(fields[2]) }
  } catch {
    return undefined
  }
}

const stopped = (pid: number) => ["T", "t"].includes(stat(pid)?.state ?? "")

/** Live (not zombie) processes in process group `pgid`. */
const groupMembers = (pgid: number) =>
  fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name)).filter((name) => {
    const s = stat(Number(name))
    return s !== undefined && s.pgrp === pgid && s.state !== "Z"
  })

/** Live supervisors whose parent is `host` (the supervisor sets its title). */
const supervisorsOf = (host: number) =>
  fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name)).filter((name) => {
    const s = stat(Number(name))
    if (s === undefined || s.ppid !== host || s.state === "Z") return false
    try {
      return fs.readFileSync(`/proc/${name}/cmdline`, "latin1").startsWith("effect-bcd-supervisor")
    } catch {
      return false
    }
  })

/** Polls until `pid` is not stopped, for at most `ms`; returns whether it runs. */
const runsWithin = (pid: number, ms: number) =>
  Effect.promise(async () => {
    const until = Date.now() + ms
    while (stopped(pid) && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
    return !stopped(pid)
  })

/**
 * The outside guard: a separate process that sends SIGCONT to `pid` after
 * `seconds` (then every 2 s) and notes each time in a file. Killed with the
 * scope; the test checks that it never had to act.
 */
const guard = (pid: number, seconds: number, dir: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const fired = path.join(dir, "guard-fired")
      const child = spawn("sh", [
        "-c",
        "sleep \"$1\"; while :; do kill -CONT \"$2\" && echo fired >> \"$3\"; sleep 2; done",
        "sh",
        String(seconds),
        String(pid),
        fired
      ], {
        detached: true,
        stdio: "ignore"
      })
      return { child, fired: () => fs.existsSync(fired) }
    }),
    ({ child }) => Effect.sync(() => process.kill(-child.pid!, "SIGKILL"))
  )

// ---- the host ------------------------------------------------------------------

interface Answer {
  readonly ok: boolean
  readonly result?: Client.Supervised
  readonly error?: { readonly tag: string; readonly message: string }
  readonly [key: string]: unknown
}

/** A child host with a guard (`guardSeconds`); `call` sends it one command and waits for the answer. */
const startHost = (options: { readonly guardSeconds: number; readonly koffi?: boolean }) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const child = yield* fixture("supervisor-host", {}, {
      cwd: dir,
      imports: options.koffi === false ? [hideKoffi] : []
    })
    yield* child.line((l) => l.ready === true)
    const pid = child.process.pid!
    const watchdog = yield* guard(pid, options.guardSeconds, dir)
    let tag = 0
    const call = (command: object) =>
      Effect.suspend(() => {
        const t = ++tag
        child.process.stdin!.write(JSON.stringify({ ...command, tag: t }) + "\n")
        return child.line((l) => l.tag === t) as Effect.Effect<Answer>
      })
    const sh = (script: string, args: ReadonlyArray<string>, deadlineMs: number | null, graceMs = 300) =>
      call({ op: "run", argv: ["sh", "-c", script, "sh", ...args], deadlineMs, graceMs })
    /** The host runs, the guard never acted, and the tracer's group is empty. */
    const settled = (result: Client.Supervised | undefined) =>
      Effect.gen(function*() {
        expect(yield* runsWithin(pid, 1_000)).toBe(true)
        expect(watchdog.fired()).toBe(false)
        if (result?.pid !== undefined) expect(groupMembers(result.pid)).toEqual([])
      })
    return { child, pid, dir, call, sh, settled }
  })

/** Waits for a non-empty pid file. */
const readPid = (file: string) =>
  Effect.promise(async () => {
    while (!fs.existsSync(file) || fs.readFileSync(file, "utf8").trim() === "") {
      await new Promise((r) => setTimeout(r, 10))
    }
    return Number(fs.readFileSync(file, "utf8"))
  }).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`no pid in ${file}`) }), Effect.orDie)

// A shell loop with no fork per turn: spins until the host's main thread is in a ptrace stop (gdb attached).
const UNTIL_ATTACHED = "while read -r _ _ s _ < \"/proc/$1/stat\"; [ \"$s\" != t ]; do :; done"

// ---- tests -----------------------------------------------------------------------

describe("supervisor: the run contract (this worker as the host)", () => {
  const spec = (
    command: string,
    args: ReadonlyArray<string>,
    extra: Partial<{ stdin: string; stdout: string; stderr: string }> = {}
  ) => ({
    command,
    args,
    cwd: undefined,
    env: { ...process.env, BCD_TEST_VALUE: "passed verbatim" },
    stdin: extra.stdin,
    stdout: extra.stdout,
    stderr: extra.stderr
  })
  const options = { deadline: Option.some(Duration.seconds(20)), grace: Duration.millis(200) }

  it.live("stdout, the stderr tail, exit code, env, stdin from a (relative) file, umask 077", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = path.join(dir, "in")
      fs.writeFileSync(input, "from stdin\n")
      const script =
        "cat; printf \"%s\\n\" \"$BCD_TEST_VALUE\"; echo oops >&2; : > \"$1/made\"; stat -c %a \"$1/made\"; exit 3"
      // A relative path is ours, not the supervisor's (whose working directory is "/").
      const result = yield* Client.run(
        spec("sh", ["-c", script, "sh", dir], { stdin: path.relative(process.cwd(), input) }),
        options
      )
      expect(result).toMatchObject({ code: 3, signal: null, deadlinePassed: false, rescued: false })
      expect(result.stdout).toBe("from stdin\npassed verbatim\n600\n")
      expect(result.stderr).toBe("oops\n")
      expect(result.path).toBe("/usr/bin/sh")
    }).pipe(Effect.scoped))

  it.live("a stdout file of the backend's (Stdio.stdout): appended to, kept, never read back", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "snapshot.txt")
      fs.writeFileSync(file, "header\n")
      const result = yield* Client.run(spec("sh", ["-c", "echo appended"], { stdout: file }), options)
      expect(result).toMatchObject({ code: 0, stdout: "" })
      expect(fs.readFileSync(file, "utf8")).toBe("header\nappended\n")
    }).pipe(Effect.scoped))

  it.live("a missing program, an unwritable stderr file", () =>
    Effect.gen(function*() {
      const missing = yield* Effect.flip(Client.run(spec("no-such-tracer-here", []), options))
      expect(missing).toMatchObject({ _tag: "TracerRunError", path: "no-such-tracer-here" })
      const unwritable = yield* Effect.flip(Client.run(spec("true", [], { stderr: "/proc/no/such/dir/err" }), options))
      expect(unwritable.message).toMatch(/could not open its stdio files/)
    }))

  it.live("the deadline: SIGTERM, then SIGKILL after grace for one that ignores it", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const result = yield* Client.run(spec("sh", ["-c", "trap \"\" TERM; sleep 30"]), {
        deadline: Option.some(Duration.millis(300)),
        grace: Duration.millis(200)
      })
      expect(result).toMatchObject({ signal: "SIGKILL", deadlinePassed: true })
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(groupMembers(result.pid!)).toEqual([])
    }))

  it.live("interruption kills the group, a straggler that ignores SIGTERM included, and waits for it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const pidFile = path.join(dir, "pid")
      const script = "(trap \"\" TERM; exec sleep 30) & echo $! > \"$1\"; wait"
      const fiber = yield* Effect.fork(
        Client.run(spec("sh", ["-c", script, "sh", pidFile]), { ...options, deadline: Option.none() })
      )
      const straggler = yield* readPid(pidFile)
      expect(alive(straggler)).toBe(true)
      yield* Fiber.interrupt(fiber)
      expect(alive(straggler)).toBe(false)
    }).pipe(Effect.scoped))

  it.live("only this process may use its supervisor (the socket checks its peer)", () =>
    Effect.gen(function*() {
      const connection = yield* Client.ensure
      expect(connection.address.startsWith("\0")).toBe(true)
      // A stranger: a separate node process connecting to our address gets no hello, only a closed socket.
      const probe = `const s = require("net").connect(${JSON.stringify(connection.address)}); let d = "";` +
        `s.on("data", (c) => d += c); s.on("close", () => console.log(JSON.stringify(d))); s.on("error", () => {})`
      const answer = yield* Effect.promise(() =>
        new Promise<string>((resolve) => {
          const child = spawn(process.execPath, ["-e", probe], { stdio: ["ignore", "pipe", "ignore"] })
          let out = ""
          child.stdout.on("data", (c) => (out += c))
          child.on("exit", () => resolve(out.trim()))
        })
      )
      expect(answer).toBe("\"\"")
    }))
})

describe("supervisor: a child host stopped by its tracers", () => {
  it.live("a tracer that runs `kill -STOP <host>` and exits 0: the host runs again", () =>
    Effect.gen(function*() {
      const host = yield* startHost({ guardSeconds: 20 })
      const answer = yield* host.sh("kill -STOP \"$1\"", [String(host.pid)], 10_000)
      expect(answer.result).toMatchObject({ code: 0, rescued: true, deadlinePassed: false })
      yield* host.settled(answer.result)
    }).pipe(Effect.scoped))

  it.live("the time the host's main thread was stopped is measured, to the supervisor's 5 ms look", () =>
    Effect.gen(function*() {
      const host = yield* startHost({ guardSeconds: 20 })
      const answer = yield* host.sh("kill -STOP \"$1\"; sleep 0.4; kill -CONT \"$1\"", [String(host.pid)], 10_000)
      expect(answer.result).toMatchObject({ code: 0, hostStopped: true })
      expect(answer.result?.stoppedMs).toBeGreaterThanOrEqual(300)
      expect(answer.result?.stoppedMs).toBeLessThanOrEqual(answer.result?.durationMs ?? 0)
      const idle = yield* host.sh("exit 0", [], 10_000)
      expect(idle.result?.stoppedMs).toBe(0)
      yield* host.settled(answer.result)
    }).pipe(Effect.scoped))

  it.live("a tracer that stops the host and hangs past the deadline: killed on time, the host resumed", () =>
    Effect.gen(function*() {
      const host = yield* startHost({ guardSeconds: 20 })
      const started = Date.now()
      const answer = yield* host.sh("trap \"\" TERM; kill -STOP \"$1\"; exec sleep 30", [String(host.pid)], 1_000, 300)
      expect(Date.now() - started).toBeLessThan(1_000 + 300 + 2_000)
      expect(answer.result).toMatchObject({ signal: "SIGKILL", deadlinePassed: true, rescued: true, hostStopped: true })
      yield* host.settled(answer.result)
    }).pipe(Effect.scoped))

  it.live.skipIf(!hasGdb)(
    "a tracer that backgrounds gdb and exits 0: the straggler is killed, the host resumed",
    () =>
      Effect.gen(function*() {
        const host = yield* startHost({ guardSeconds: 40 })
        const started = Date.now()
        const script = `${GDB} -p "$1" -batch -nx -ex "shell sleep 30" >/dev/null 2>&1 & ${UNTIL_ATTACHED}; exit 0`
        const answer = yield* host.sh(script, [String(host.pid)], 20_000)
        expect(answer.result).toMatchObject({ code: 0, deadlinePassed: false })
        expect(answer.result!.stragglers).toBeGreaterThan(0)
        // gdb would have held the host for 30 s (a loose bound: gdb's start under load included).
        expect(Date.now() - started).toBeLessThan(15_000)
        yield* host.settled(answer.result)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live.skipIf(!hasGdb)(
    "gdb SIGKILLed the moment it attaches, 10 times: the host is never left stopped",
    () =>
      Effect.gen(function*() {
        const host = yield* startHost({ guardSeconds: 90 })
        const script =
          `${GDB} -p "$1" -batch -nx -ex "info threads" >/dev/null 2>&1 & g=$!; ${UNTIL_ATTACHED}; kill -KILL $g`
        const rescued: Array<boolean> = []
        for (let i = 0; i < 10; i++) {
          const answer = yield* host.sh(script, [String(host.pid)], 15_000)
          expect(answer.result).toMatchObject({ code: 0, deadlinePassed: false })
          rescued.push(answer.result!.rescued)
          yield* host.settled(answer.result)
        }
        // How often the kill left the host stopped (the figure of DESIGN.md pitfall 12), for the log.
        console.log(
          `gdb killed at attach: the supervisor resumed the host in ${rescued.filter(Boolean).length} of 10 runs`
        )
      }).pipe(Effect.scoped),
    120_000
  )

  it.live("a `setsid` grandchild is found and killed (subreaper, with koffi)", () =>
    Effect.gen(function*() {
      const host = yield* startHost({ guardSeconds: 20 })
      const connection = yield* host.call({ op: "ensure" })
      expect(connection).toMatchObject({ ok: true, subreaper: true })
      const pidFile = path.join(host.dir, "grandchild")
      const script = `setsid sh -c 'echo $$ > "$0"; exec sleep 30' "$1" & while [ ! -s "$1" ]; do sleep 0.01; done`
      const answer = yield* host.sh(script, [pidFile], 10_000)
      const grandchild = yield* readPid(pidFile)
      expect(answer.result).toMatchObject({ code: 0 })
      expect(answer.result!.stragglers).toBeGreaterThan(0)
      expect(yield* Effect.promise(() => gone(grandchild, 1_000))).toBe(true)
      yield* host.settled(answer.result)
    }).pipe(Effect.scoped))

  it.live("without koffi: a private socket path, no subreaper, and a `setsid` grandchild escapes (documented)", () =>
    Effect.gen(function*() {
      const host = yield* startHost({ guardSeconds: 20, koffi: false })
      const connection = yield* host.call({ op: "ensure" })
      expect(connection).toMatchObject({ ok: true, subreaper: false })
      expect(String(connection.address)).toMatch(/\/effect-bcd-\d+\/supervisor-\d+\.sock$/)
      const pidFile = path.join(host.dir, "grandchild")
      const script = `setsid sh -c 'echo $$ > "$0"; exec sleep 30' "$1" & while [ ! -s "$1" ]; do sleep 0.01; done`
      const answer = yield* host.sh(script, [pidFile], 10_000)
      expect(answer.result).toMatchObject({ code: 0, stragglers: 0 })
      const grandchild = yield* readPid(pidFile)
      try {
        expect(alive(grandchild)).toBe(true)
      } finally {
        process.kill(grandchild, "SIGKILL")
      }
      // The rescue needs no koffi.
      const stop = yield* host.sh("kill -STOP \"$1\"", [String(host.pid)], 10_000)
      expect(stop.result).toMatchObject({ rescued: true })
      yield* host.settled(stop.result)
    }).pipe(Effect.scoped))
})

describe("supervisor: lifetime and the lock", () => {
  it.live("killed with SIGKILL while idle, it is restarted by the next trace", () =>
    Effect.gen(function*() {
      const host = yield* startHost({ guardSeconds: 20 })
      const first = yield* host.call({ op: "ensure" })
      process.kill(first.pid as number, "SIGKILL")
      // At once: the host may not have seen the connection close yet; the run must still go through.
      const answer = yield* host.sh("echo ok", [], 10_000)
      expect(yield* Effect.promise(() => gone(first.pid as number, 2_000))).toBe(true)
      expect(answer.result).toMatchObject({ code: 0, stdout: "ok\n" })
      const second = yield* host.call({ op: "ensure" })
      expect(second.pid).not.toBe(first.pid)
      yield* host.settled(answer.result)
    }).pipe(Effect.scoped))

  it.live("traces started at once from the main thread and two worker_threads never overlap", () =>
    Effect.gen(function*() {
      const host = yield* startHost({ guardSeconds: 30 })
      const log = path.join(host.dir, "log")
      const script = "echo \"start $(date +%s%N)\" >> \"$1\"; sleep 0.3; echo \"end $(date +%s%N)\" >> \"$1\""
      const answer = yield* host.call({ op: "race", argv: ["sh", "-c", script, "sh", log], deadlineMs: 10_000 })
      expect(answer.ok).toBe(true)
      expect((answer.results as Array<Answer>).map((r) => r.result?.code)).toEqual([0, 0, 0])
      const record = readRecord(log)
      expect(record.map((r) => r.kind)).toEqual(["start", "end", "start", "end", "start", "end"])
      for (let i = 1; i < record.length; i++) expect(record[i]!.ns).toBeGreaterThanOrEqual(record[i - 1]!.ns)
      // The workers started theirs at the same time: one won the address, the other connected to it.
      expect(supervisorsOf(host.pid)).toHaveLength(1)
      for (const r of answer.results as Array<Answer>) yield* host.settled(r.result)
    }).pipe(Effect.scoped))

  it.live("a second supervisor for a taken address exits 0; a stale socket path is taken over", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const start = (address: string, ffi: boolean) =>
        spawn(process.execPath, [Client.supervisorPath, String(process.pid), address, ffi ? "1" : "0"], {
          stdio: "ignore",
          env: {}
        })
      const exited = (child: ReturnType<typeof start>) =>
        Effect.promise(() => new Promise((resolve) => child.once("exit", (code) => resolve(code))))
      const answers = (address: string) =>
        Effect.promise(() =>
          new Promise<boolean>((resolve) => {
            const socket = net.createConnection(address.replace(/^@/, "\0"))
            socket.once("data", () => (socket.destroy(), resolve(true)))
            socket.once("error", () => resolve(false))
          })
        ).pipe(
          Effect.repeat({ until: (ok) => ok, schedule: Schedule.spaced("10 millis") }),
          Effect.timeout("10 seconds")
        )
      for (
        const [address, ffi] of [[`@effect-bcd-test-${process.pid}`, true], [path.join(dir, "s.sock"), false]] as const
      ) {
        const first = start(address, ffi)
        yield* answers(address)
        expect(yield* exited(start(address, ffi))).toBe(0)
        expect(alive(first.pid!)).toBe(true)
        first.kill("SIGKILL")
        yield* exited(first)
      }
      // The SIGKILLed one left its socket file behind: the next one probes it, removes it and listens.
      expect(fs.existsSync(path.join(dir, "s.sock"))).toBe(true)
      const next = start(path.join(dir, "s.sock"), false)
      yield* answers(path.join(dir, "s.sock"))
      next.kill("SIGKILL")
      yield* exited(next)
    }).pipe(Effect.scoped))

  for (const how of ["exits normally", "is killed with SIGKILL"] as const) {
    it.live(`the host ${how}: the supervisor is gone within 1 s`, () =>
      Effect.gen(function*() {
        const host = yield* startHost({ guardSeconds: 20 })
        const connection = yield* host.call({ op: "ensure" })
        const supervisor = connection.pid as number
        expect(alive(supervisor)).toBe(true)
        if (how === "exits normally") host.child.process.stdin!.write(JSON.stringify({ op: "exit" }) + "\n")
        else process.kill(host.pid, "SIGKILL")
        yield* host.child.exit
        expect(yield* Effect.promise(() => gone(supervisor, 1_000))).toBe(true)
      }).pipe(Effect.scoped))
  }
})
