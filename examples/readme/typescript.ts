import { Gossip, GossipError, MessageTooLargeError, type GossipEvent, type GossipOptions, type Lagged } from 'grapevine-gossip'

/** Node options from the environment, where every value is `string | undefined`. */
function optionsFromEnv (env: NodeJS.ProcessEnv): GossipOptions {
  const secret = env.CLUSTER_SECRET
  if (secret === undefined || secret === '') throw new Error('set CLUSTER_SECRET')
  return {
    secret,
    port: Number(env.GOSSIP_PORT ?? 0),
    seeds: (env.GOSSIP_SEEDS ?? '').split(',').filter(seed => seed !== '')
  }
}

/** `events()` yields GossipEvent | Lagged, and a Lagged has no topic: narrow on `type` first. */
function describe (event: GossipEvent | Lagged): string {
  switch (event.type) {
    case 'lagged': return `missed ${event.dropped} events`
    case 'neighbourDown': return `${event.peer.slice(0, 8)} left ${event.topic.slice(0, 8)} (${event.reason})`
    case 'neighbourUp': return `${event.peer.slice(0, 8)} joined ${event.topic.slice(0, 8)}`
    default: return `${event.type} ${event.topic.slice(0, 8)}`
  }
}

const node = await Gossip.spawn(optionsFromEnv(process.env))
const events = node.events()
const logged = (async () => { for await (const event of events) console.log(describe(event)) })()

const room = await node.stream('room:42')
try {
  await room.publish(new Uint8Array(1024 * 1024))
} catch (err) {
  // Every error has a stable `code`; some subclasses carry details.
  if (err instanceof MessageTooLargeError) console.log(`${err.code}: ${err.size} > ${err.limit} bytes`)
  else if (err instanceof GossipError) console.log(err.code, err.message)
  else throw err
}

await node.close()     // ends the events() iteration too
await logged
