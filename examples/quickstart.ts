import { Effect } from "effect"
import { GdbLive, Tracer } from "effect-bcd"

const chargeCard = Effect.fail(new Error("payment declined"))

const program = Effect.gen(function*() {
  yield* chargeCard.pipe(Effect.tapError((err) => Tracer.trace(err)), Effect.ignore)
  yield* Effect.die(new TypeError("cart.items is undefined"))
}).pipe(Effect.catchAllDefect(Tracer.recover))

Effect.runPromise(program.pipe(Effect.provide(GdbLive)))
