import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as http from "node:http"
import * as path from "node:path"
import { uploadFile } from "../src/internal/upload/file.js"
import { post } from "../src/internal/upload/transport.js"
const origin = process.argv[2]!
const dir = "/tmp/upd/small"
const files = fs.readdirSync(dir).filter((f) => f.endsWith(".btt")).map((f) => path.join(dir, f))
const agent = new http.Agent({ keepAlive: true })
const url = new URL(`${origin}/post?token=x`)
const one = (f: string) => new Promise<void>((resolve, reject) => {
  const body = fs.readFileSync(f)
  const req = http.request(url, { method: "POST", agent, headers: { "content-length": body.length } }, (res) => { res.resume(); res.on("end", resolve) })
  req.on("error", reject); req.end(body)
})
const raw = async () => { let i = 0; const lane = async () => { while (i < files.length) await one(files[i++]!) }; await Promise.all([lane(), lane(), lane(), lane()]) }
const viaPost = Effect.forEach(files, (f) => post(url, f, 102400, "application/octet-stream", 60000).pipe(Effect.timeoutFail({ duration: Duration.seconds(60), onTimeout: () => ({ kind: "connection" as const, code: undefined, message: "t" }) })), { concurrency: 4, discard: true })
const viaUpload = Effect.forEach(files, (f) => uploadFile(f, { url, timeout: Duration.seconds(60), retry: Schedule.stop, unlink: false }), { concurrency: 4, discard: true }).pipe(Effect.provide(NodeFileSystem.layer))
const mins = { raw: Infinity, post: Infinity, upload: Infinity }
for (let r = 0; r < 15; r++) {
  let t = performance.now(); await raw(); const a = performance.now() - t
  t = performance.now(); await Effect.runPromise(viaPost); const b = performance.now() - t
  t = performance.now(); await Effect.runPromise(viaUpload); const c = performance.now() - t
  mins.raw = Math.min(mins.raw, a); mins.post = Math.min(mins.post, b); mins.upload = Math.min(mins.upload, c)
}
console.log(mins)
process.exit(0)
