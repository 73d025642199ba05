/**
 * The app the deployment examples run (kubernetes.yaml, docker-compose.yml): one Fastify server
 * with the Grapevine plugin, configured from the environment.
 *
 *   GRAPEVINE_SECRET     the cluster secret (required; the same on every instance)
 *   GRAPEVINE_HOST       interface the gossip node listens on (default 0.0.0.0: reachable from
 *                        other hosts; the node then announces POD_IP, or GRAPEVINE_ADVERTISE)
 *   GRAPEVINE_PORT       gossip port (default 7946)
 *   GRAPEVINE_ADVERTISE  host:port peers should dial (default: POD_IP or the first interface)
 *   GRAPEVINE_SEEDS      comma-separated host:port contacts; a DNS name resolves to every address
 *   HTTP_PORT            HTTP port (default 3000)
 *
 * Routes: GET /gossip/health (the plugin's), GET /peers, POST /hello (a text body, published).
 * Every instance joins the topic `deploy:hello`, says hello once and logs what arrives on it.
 *
 * It imports the package by its published name. In this repository that name resolves to the
 * package itself (`npm run build` first); in the Docker image, to the installed package.
 */
import Fastify from 'fastify'
import grapevine from 'grapevine-gossip/fastify'
import type { GrapevineOptions } from 'grapevine-gossip/fastify'

const HELLO_TOPIC = 'deploy:hello'

/** The plugin's options from the environment. */
function optionsFromEnv (env: NodeJS.ProcessEnv): GrapevineOptions {
  const list = (value: string | undefined): string[] => (value ?? '').split(',').map(s => s.trim()).filter(s => s !== '')
  const secret = env.GRAPEVINE_SECRET ?? ''
  if (secret === '') throw new Error('GRAPEVINE_SECRET is required')
  return {
    secret,
    host: env.GRAPEVINE_HOST ?? '0.0.0.0',
    port: Number(env.GRAPEVINE_PORT ?? 7946),
    seeds: list(env.GRAPEVINE_SEEDS),
    ...(env.GRAPEVINE_ADVERTISE !== undefined && env.GRAPEVINE_ADVERTISE !== '' ? { advertise: env.GRAPEVINE_ADVERTISE } : {}),
    health: true
  }
}

async function main (): Promise<void> {
  const app = Fastify({ logger: true })
  await app.register(grapevine, optionsFromEnv(process.env))

  const hello = await app.gossip.stream(HELLO_TOPIC)
  void (async () => {
    for await (const event of hello.subscribe()) {
      if (event.type === 'message') app.log.info({ origin: event.origin, hops: event.hops }, Buffer.from(event.content).toString())
    }
  })()

  app.get('/peers', async () => app.gossip.peers())
  app.post<{ Body: string }>('/hello', async (request) => {
    await hello.publish(String(request.body))
    return { ok: true }
  })

  const stop = (): void => { app.close().then(() => process.exit(0), () => process.exit(1)) }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)

  await app.listen({ host: '0.0.0.0', port: Number(process.env.HTTP_PORT ?? 3000) })
  await hello.publish(`hello from ${app.gossip.address}`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
