/**
 * One instance of the demo: a Fastify server with the Grapevine plugin and its WebSocket bridge,
 * serving the chat page. `demo.ts` starts three of these as child processes; run alone it is
 * configured through the environment:
 *
 *   DEMO_NAME, DEMO_PORT (HTTP, 0 = any free port), DEMO_SEEDS (comma-separated host:port),
 *   DEMO_SECRET (the cluster secret; every instance of one cluster needs the same)
 */
import Fastify from 'fastify'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import grapevine from '../src/plugin/index.js'

const name = process.env.DEMO_NAME ?? 'instance'
const port = Number(process.env.DEMO_PORT ?? 3000)
const seeds = (process.env.DEMO_SEEDS ?? '').split(',').filter(s => s !== '')
const secret = process.env.DEMO_SECRET ?? 'grapevine demo secret'

// Compiled, this file is dist/examples/demo-instance.js; the page stays in examples/public.
const publicDir = [new URL('./public/', import.meta.url), new URL('../../examples/public/', import.meta.url)]
  .map(url => fileURLToPath(url))
  .find(dir => existsSync(dir))
const browserClient = fileURLToPath(new URL('../src/browser/index.js', import.meta.url))

const files: Record<string, { path: string, type: string }> = {
  '/': { path: `${publicDir}index.html`, type: 'text/html; charset=utf-8' },
  '/app.js': { path: `${publicDir}app.js`, type: 'text/javascript; charset=utf-8' },
  '/style.css': { path: `${publicDir}style.css`, type: 'text/css; charset=utf-8' },
  // The page links the SVG; /favicon.ico answers too, for whatever asks for it without looking.
  '/favicon.svg': { path: `${publicDir}favicon.svg`, type: 'image/svg+xml' },
  '/favicon.ico': { path: `${publicDir}favicon.svg`, type: 'image/svg+xml' },
  '/grapevine-browser.js': { path: browserClient, type: 'text/javascript; charset=utf-8' }
}

async function main (): Promise<void> {
  const app = Fastify({ logger: { level: process.env.DEMO_LOG_LEVEL ?? 'warn' } })
  await app.register(grapevine, {
    secret,
    host: '127.0.0.1',
    port: 0,
    seeds,
    // The cluster page at /gossip/dashboard; summaries every 2 s, naming the chat's topics.
    clusterSummary: { interval: 2000, topicNames: ['chat:lobby', 'chat:lobby:presence'] },
    dashboard: true,
    bridge: {
      // The page only ever needs the chat topics; anything else a tab asks for is refused.
      authorize: (_request, topic) => topic.startsWith('chat:')
    }
  })

  for (const [route, file] of Object.entries(files)) {
    app.get(route, async (_request, reply) => await reply.type(file.type).send(await readFile(file.path)))
  }
  app.get('/info', async () => ({ name, nodeId: app.gossip.nodeId }))

  try {
    await app.listen({ host: '127.0.0.1', port })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port === 0) throw err
    app.log.warn(`port ${port} is taken, using a free one`)
    await app.listen({ host: '127.0.0.1', port: 0 })
  }
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  let stopping = false
  const stop = (): void => {
    if (stopping) return
    stopping = true
    app.close().then(() => process.exit(0), (err: unknown) => {
      console.error(err)
      process.exit(1)
    })
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  // Started by demo.ts: stop when it says so or when it is gone.
  process.on('message', message => { if (message === 'stop') stop() })
  process.on('disconnect', stop)

  const ready = { type: 'ready', name, url, gossip: app.gossip.address, nodeId: app.gossip.nodeId }
  if (process.send !== undefined) process.send(ready)
  else console.log(`${name} listening on ${url} (gossip ${app.gossip.address})`)
}

main().catch(err => {
  console.error(err)
  process.exit(1)
})
