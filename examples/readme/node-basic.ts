import { Gossip } from 'grapevine-gossip'

// Only nodes holding the cluster secret can link to each other.
const secret = process.env.CLUSTER_SECRET
if (secret === undefined || secret === '') throw new Error('set CLUSTER_SECRET')

// Two nodes in one process so that the example runs anywhere. In production each instance of
// your backend runs one node, with `host: '0.0.0.0'` and the others as seeds (see Deploying).
const a = await Gossip.spawn({ secret })                        // 127.0.0.1, a free port
const b = await Gossip.spawn({ secret, seeds: [a.address] })

// Membership of every topic b is in; the loop ends when b closes.
const watching = (async () => {
  for await (const event of b.events()) {
    if (event.type === 'lagged') console.warn(`b missed ${event.dropped} events`)
    else console.log(`b: ${event.type} in topic ${event.topic.slice(0, 8)}`)
  }
})()

const atA = await a.stream('room:42')    // a string topic is hashed to 32 bytes
const atB = await b.stream('room:42')
const messages = atB.subscribe()         // what arrives from now on

// Before a has a neighbour in the topic the message waits in a bounded queue; it is not lost.
await atA.publish('hello')               // a string or a Uint8Array

for await (const item of messages) {
  if (item.type === 'lagged') {
    console.warn(`b read too slowly and missed ${item.dropped} messages`)
    continue
  }
  const sender = item.origin === a.nodeId ? 'a' : item.origin
  console.log(`b received "${Buffer.from(item.content).toString()}" from ${sender}, ${item.hops} hop(s)`)
  break                                  // leaving the loop ends the subscription
}

await b.close()                          // leaves its topics gracefully; a sees neighbourDown
await a.close()
await watching
