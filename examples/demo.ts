/**
 * `npm start`: three Fastify instances on this machine, each its own process with its own
 * gossip node, joined into one cluster with no broker. Each serves the same chat page; open two
 * instances in two tabs and talk across them. Ctrl-C stops everything cleanly.
 *
 * Options: --port <n> first HTTP port (default 3000, then 3001, 3002; 0 picks free ports).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'

interface Ready { type: 'ready', name: string, url: string, gossip: string, nodeId: string }

const INSTANCES = 3
/** Where each instance serves the cluster dashboard (the plugin's default path). */
const DASHBOARD = '/gossip/dashboard'
const portArg = process.argv.indexOf('--port')
const basePort = Number(portArg >= 0 ? process.argv[portArg + 1] : process.env.PORT ?? 3000)
if (!Number.isInteger(basePort) || basePort < 0 || basePort > 65533) {
  console.error('--port must be a port number (0 for free ports)')
  process.exit(2)
}
// One secret per run: only these three processes can join this cluster.
const secret = randomBytes(32).toString('hex')
const instanceScript = fileURLToPath(new URL('./demo-instance.js', import.meta.url))
const children: ChildProcess[] = []
let stopping = false

async function start (index: number, seeds: string[]): Promise<Ready> {
  const child = fork(instanceScript, [], {
    env: {
      ...process.env,
      DEMO_NAME: `instance ${index + 1}`,
      DEMO_PORT: String(basePort === 0 ? 0 : basePort + index),
      DEMO_SEEDS: seeds.join(','),
      DEMO_SECRET: secret
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  children.push(child)
  return await new Promise((resolve, reject) => {
    child.once('message', message => resolve(message as Ready))
    child.once('exit', code => {
      if (!stopping) reject(new Error(`instance ${index + 1} exited with code ${code} before it was ready`))
    })
  })
}

async function stop (code: number): Promise<void> {
  if (stopping) return
  stopping = true
  console.log('\nstopping the three instances...')
  await Promise.all(children.map(async child => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise(resolve => child.once('exit', resolve))
    if (child.connected) child.send('stop')
    const force = setTimeout(() => child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(force)
  }))
  console.log('stopped')
  process.exit(code)
}

async function main (): Promise<void> {
  process.on('SIGINT', () => { stop(0).catch(fail) })
  process.on('SIGTERM', () => { stop(0).catch(fail) })

  const first = await start(0, [])
  // The others only need one contact; topic discovery introduces them to each other.
  const rest = await Promise.all([1, 2].map(async i => await start(i, [first.gossip])))
  const all = [first, ...rest]
  for (const child of children) {
    child.on('exit', code => {
      if (!stopping) {
        console.error(`an instance exited unexpectedly (code ${code}); stopping`)
        stop(1).catch(fail)
      }
    })
  }

  console.log(`Grapevine demo: ${INSTANCES} Fastify instances, one gossip cluster, no broker\n`)
  for (const ready of all) console.log(`  ${ready.name}  ${ready.url}   (node ${ready.nodeId.slice(0, 8)}, gossip ${ready.gossip}, dashboard ${DASHBOARD})`)
  console.log('\nOpen two of these URLs in different tabs and chat: messages, who is online and')
  console.log('who is typing cross between instances peer-to-peer. Any URL followed by')
  console.log(`${DASHBOARD} draws the whole cluster. Press Ctrl-C to stop.`)
}

function fail (err: unknown): void {
  console.error(err)
  process.exit(1)
}

main().catch(err => {
  console.error(err)
  stop(1).catch(fail)
})
