/**
 * Issue 10, multi-host bed: the seed host is gone for good. Newcomers that list the dead seed
 * first plus one live node join the overlay and deliver both ways. Two ways for a host to be gone:
 * its namespace deleted (nobody answers ARP for its address, so a dial fails with EHOSTUNREACH
 * after a few seconds), and a host that drops everything silently (the address still routes, as
 * behind a cloud router: a dial hears nothing at all, for the kernel's SYN retries, about two
 * minutes, unless the node bounds it). Needs root, `ip` and `iptables` (skipped otherwise,
 * failed under CI=true).
 */
import type { Test } from 'tap'
import { bed, multihost, oneOverlay, waitFor } from '../fixtures/netns.js'

const TOPIC = 'orphans'
/** The survivors notice the dead seed sooner than with the default 6 s. */
const KEEPALIVE = 2_000

async function seedGone (t: Test, how: 'removed' | 'silent'): Promise<void> {
  const b = await bed(t, 5)
  const [seed, second, third] = [1, 2, 3].map(i => b.start(i)) as [ReturnType<typeof b.start>, ReturnType<typeof b.start>, ReturnType<typeof b.start>]
  await seed.spawn({ keepaliveTimeout: KEEPALIVE })
  await Promise.all([second, third].map(async n => { await n.spawn({ seeds: [b.address(1)], keepaliveTimeout: KEEPALIVE }) }))
  await Promise.all([seed, second, third].map(async n => await n.call('stream', { topic: TOPIC })))
  await waitFor('the first three in one overlay', async () => await oneOverlay([seed, second, third], TOPIC), 30_000)

  const goneAt = Date.now()
  if (how === 'removed') {
    await b.remove(1)
  } else {
    // Everything arriving at host 1 or coming from it is dropped, and its node is dead.
    await b.cut([1], [2, 3, 4, 5])
    seed.kill9()
    await seed.exited
  }
  const survivors = [second, third]
  await waitFor('the survivors drop the seed and stay linked', async () =>
    await oneOverlay(survivors, TOPIC) && (await Promise.all(survivors.map(async n => await n.neighbours(TOPIC)))).every(ns => !ns.includes(seed.nodeId)), 30_000)
  t.comment(`survivors linked without the seed ${Date.now() - goneAt} ms after it went`)

  // Two newcomers at once, each with the dead seed first and one live node.
  const newcomers = [b.start(4), b.start(5)]
  const joinAt = Date.now()
  const spawned: number[] = []
  await Promise.all(newcomers.map(async (n, k) => {
    // Bounded here, so a spawn() that waits out the kernel's SYN retries fails the test, not tap's timeout.
    await Promise.race([
      n.spawn({ seeds: [b.address(1), b.address(k === 0 ? 2 : 3)], keepaliveTimeout: KEEPALIVE }),
      new Promise((_resolve, reject) => setTimeout(() => { reject(new Error(`spawn() of node ${n.index} with a dead seed did not resolve within 60 s`)) }, 60_000).unref())
    ])
    spawned[k] = Date.now() - joinAt
    await n.call('stream', { topic: TOPIC })
  }))
  t.comment(`spawn() resolved after ${spawned.join(' and ')} ms (it resolves once one seed is linked, without waiting for the dead one)`)
  const all = [...survivors, ...newcomers]
  await waitFor('the newcomers are in the one overlay', async () => await oneOverlay(all, TOPIC), 30_000, 250)
  t.comment(`newcomers in the overlay ${Date.now() - joinAt} ms after they started`)

  const COUNT = 20
  await Promise.all(all.map(async n => await n.call('publish', { topic: TOPIC, prefix: `from${n.index}`, count: COUNT })))
  await waitFor('every message reaches every live node', async () => {
    for (const n of all) for (const o of all) if (o !== n && await n.has(TOPIC, `from${o.index}`, COUNT) !== COUNT) return false
    return true
  }, 30_000)
  for (const n of all) {
    const r = await n.received(TOPIC)
    t.equal(r.unique, (all.length - 1) * COUNT, `node ${n.index}: all ${(all.length - 1) * COUNT} messages`)
    t.equal(r.duplicateCount, 0, `node ${n.index}: none twice`)
  }
  const warns = (await Promise.all(all.map(async n => (await n.logs()).filter(l => l.at >= goneAt && l.level !== 'info')
    .map(l => `node ${n.index} +${l.at - goneAt}ms ${l.level}: ${l.msg}`)))).flat()
  t.comment(`warn/error lines after the seed went: ${warns.length}\n${warns.slice(0, 20).join('\n')}`)
}

multihost('the seed host removed for good: newcomers listing it plus one live node join and deliver', async t => {
  await seedGone(t, 'removed')
})

multihost('the seed host silent for good (drops everything): newcomers listing it plus one live node join and deliver', async t => {
  await seedGone(t, 'silent')
})
