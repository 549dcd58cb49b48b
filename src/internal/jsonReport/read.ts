/**
 * The Backtrace JSON report of a finished snapshot file: read line by line
 * (never whole), parsed, built with this host's facts.
 *
 * @internal
 */
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as readline from "node:readline"
import type { TraceFacts } from "../snapshot/put.js"
import { build, type Report } from "./build.js"
import { moduleLookup } from "./modules.js"
import { makeParser } from "./parse.js"

/** What the user says about the application. */
export interface Application {
  readonly application?: string | undefined
  readonly version?: string | undefined
}

/** The modules mapped in `pid` when it is this process (the tracer is done; the mappings are the same). */
const modulesOf = (pid: number) => {
  if (pid !== process.pid) return undefined
  try {
    return moduleLookup(fs.readFileSync("/proc/self/maps", "utf8"))
  } catch {
    return undefined
  }
}

/** Reads `snapshot` and builds its report. */
export const readReport = async (snapshot: string, facts: TraceFacts, app: Application): Promise<Report> => {
  const parser = makeParser()
  const lines = readline.createInterface({
    input: fs.createReadStream(snapshot, { encoding: "utf8" }),
    crlfDelay: Infinity
  })
  for await (const line of lines) parser.push(line)
  return build(parser.result(), {
    uuid: randomUUID(),
    now: new Date(),
    hostname: os.hostname(),
    platform: os.platform(),
    arch: os.arch(),
    release: os.release(),
    application: app.application,
    version: app.version,
    errorClass: facts.errorClass,
    moduleOf: facts.pid === undefined ? undefined : modulesOf(facts.pid)
  })
}
