/**
 * The gdb snapshot's header: the shared header (`snapshot/header.ts`),
 * saying that gdb's output follows.
 *
 * @internal
 */
import type { TraceRequest } from "../../TracerBackend.js"
import * as Header from "../snapshot/header.js"

export { MAX_DETAILS } from "../snapshot/header.js"

/** What the gdb header says besides the request. */
export type HeaderInfo = Omit<Header.HeaderInfo, "tracer" | "follows">

/** The header's last line. */
export const FOLLOWS = "gdb's output follows; without the end marker at the bottom, gdb was stopped part way."

/** The header, ending with a line that says gdb's output follows. */
export const render = (request: TraceRequest, info: HeaderInfo): string =>
  Header.render(request, { ...info, tracer: "gdb", follows: FOLLOWS })
