/**
 * What the Backtrace layer's tests share: the fake ptrace, a token, a fast
 * retry schedule, and the layer with the Node services.
 */
import * as Schedule from "effect/Schedule"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import { Backtrace } from "../../src/index.js"

/** The stand-in for Backtrace's ptrace (test/fixtures/fake-ptrace.mjs). */
export const FAKE_PTRACE = fileURLToPath(new URL("../fixtures/fake-ptrace.mjs", import.meta.url))

export const TOKEN = "layer-Token-0123456789"

/** Two retries, 20 ms apart. */
export const fastRetry = Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(2)))

export const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex")

/** `Backtrace.live`: the layer with the Node services it needs. */
export const live = Backtrace.live
