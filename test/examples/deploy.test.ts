/**
 * The deployment examples (examples/deploy) agree with the code: every GRAPEVINE_* variable the
 * manifests set is one the app reads and names a node option of the README's table, the values
 * pass the node's own option checks, and the Kubernetes wiring (headless Service, POD_IP, the
 * Secret, seeds) holds together. Text checks only: no YAML parser, no network, no docker.
 */
import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { validateOptions } from '../../src/core/gossip.js'
import type { GossipOptions } from '../../src/core/api.js'
import { reachableHost } from '../../src/core/net/transport.js'

const root = new URL('../../', import.meta.url)
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8')
const app = read('examples/deploy/app.ts')
const k8s = read('examples/deploy/kubernetes.yaml')
const compose = read('examples/deploy/docker-compose.yml')
const readme = read('README.md')

/** Option names of the node's options table in the README (`| \`name\` | default | meaning |`). */
function readmeOptions (): Set<string> {
  const start = readme.indexOf('### Options')
  const table = readme.slice(start, readme.indexOf('\n###', start + 1))
  return new Set([...table.matchAll(/^\| `(\w+)` \|/gm)].map(m => m[1]!))
}

/** GRAPEVINE_HOST -> host, as the app maps them. */
const optionOf = (variable: string): string => variable.slice('GRAPEVINE_'.length).toLowerCase()

/** Node options from the environment the way the app builds them. */
function optionsFrom (env: Record<string, string>): GossipOptions {
  const options: Record<string, unknown> = { secret: env.GRAPEVINE_SECRET }
  if (env.GRAPEVINE_HOST !== undefined) options.host = env.GRAPEVINE_HOST
  if (env.GRAPEVINE_PORT !== undefined) options.port = Number(env.GRAPEVINE_PORT)
  if (env.GRAPEVINE_SEEDS !== undefined) options.seeds = env.GRAPEVINE_SEEDS.split(',').map(s => s.trim()).filter(s => s !== '')
  if (env.GRAPEVINE_ADVERTISE !== undefined) options.advertise = env.GRAPEVINE_ADVERTISE
  return options as unknown as GossipOptions
}

function checkVariables (t: Test, names: string[]): void {
  const options = readmeOptions()
  t.ok(options.has('advertise') && options.has('seeds'), 'the README options table was found')
  for (const name of names.filter(n => n.startsWith('GRAPEVINE_'))) {
    t.ok(app.includes(`env.${name}`), `the app reads ${name}`)
    t.ok(options.has(optionOf(name)), `${name} names the node option "${optionOf(name)}"`)
    t.match(app, new RegExp(`\\b${optionOf(name)}\\b[^\\n]*env\\.${name}\\b`), `the app passes ${name} as "${optionOf(name)}"`)
  }
}

t.test('docker-compose.yml: three instances, each advertising its service name and seeding the others', async t => {
  const services = [...compose.matchAll(/^ {2}(gossip-\d+):\n([\s\S]*?)(?=^ {2}\S|^\S|(?![\s\S]))/gm)]
  t.equal(services.length, 3, 'three services')
  const names = services.map(s => s[1]!)
  for (const [, name, body] of services) {
    const env: Record<string, string> = {}
    for (const m of body!.matchAll(/^ {6}(\w+): (.+)$/gm)) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1')
    env.GRAPEVINE_SECRET = 'test secret'
    checkVariables(t, Object.keys(env))
    t.equal(env.GRAPEVINE_HOST, '0.0.0.0', `${name} listens on every interface`)
    t.equal(env.GRAPEVINE_ADVERTISE, `${name!}:${env.GRAPEVINE_PORT}`, `${name} advertises its service name and gossip port`)
    t.same(env.GRAPEVINE_SEEDS!.split(',').sort(), names.filter(n => n !== name).map(n => `${n}:${env.GRAPEVINE_PORT}`).sort(), `${name} seeds the others`)
    t.doesNotThrow(() => { validateOptions(optionsFrom(env)) }, `${name}'s options pass the node's checks`)
  }
  t.match(compose, /\n {2}front:/, 'a first network')
  t.match(compose, /\n {2}gossip:/, 'a second network')
  t.match(compose, /dockerfile: examples\/deploy\/Dockerfile/, 'built from the Dockerfile next to it')
})

t.test('kubernetes.yaml: headless Service, 3 replicas, POD_IP, the Secret, seeds = the Service', async t => {
  const docs = k8s.split(/^---$/m)
  const kind = (k: string): string => docs.find(d => new RegExp(`^kind: ${k}$`, 'm').test(d)) ?? ''
  const secret = kind('Secret')
  const service = kind('Service')
  const deployment = kind('Deployment') || kind('StatefulSet')
  t.ok(secret !== '' && service !== '' && deployment !== '', 'a Secret, a Service and a Deployment')

  const serviceName = /^metadata:\n {2}name: (\S+)$/m.exec(service)?.[1]
  t.match(service, /^ {2}clusterIP: None$/m, 'the Service is headless')
  t.match(service, /^ {2}publishNotReadyAddresses: true$/m, 'pods are in its DNS before they are ready')
  const servicePort = /^ {4}- name: gossip\n {6}port: (\d+)\n {6}targetPort: gossip$/m.exec(service)?.[1]
  t.ok(servicePort, 'the Service names the gossip port')
  const selector = /^ {2}selector:\n {4}app: (\S+)$/m.exec(service)?.[1]
  t.match(deployment, new RegExp(`^ {6}labels:\\n {8}app: ${selector ?? '-'}$`, 'm'), 'the Service selects the pods')
  t.match(deployment, /^ {2}replicas: 3$/m, 'three replicas')
  t.match(deployment, new RegExp(`- name: gossip\\n {14}containerPort: ${servicePort ?? '-'}$`, 'm'), 'the container exposes the gossip port')

  const env: Record<string, string> = {}
  for (const m of deployment.matchAll(/^ {12}- name: (\w+)\n {14}value: "?([^"\n]*)"?$/gm)) env[m[1]!] = m[2]!
  t.match(deployment, /- name: POD_IP\n {14}valueFrom:\n {16}fieldRef:\n {18}fieldPath: status\.podIP$/m, 'POD_IP from the downward API')
  const secretName = /^metadata:\n {2}name: (\S+)$/m.exec(secret)?.[1]
  const secretKey = /^stringData:\n(?: *#.*\n)* {2}(\w+):/m.exec(secret)?.[1]
  t.match(deployment, new RegExp(`- name: GRAPEVINE_SECRET\\n {14}valueFrom:\\n {16}secretKeyRef:\\n {18}name: ${secretName ?? '-'}\\n {18}key: ${secretKey ?? '-'}$`, 'm'),
    'GRAPEVINE_SECRET from the Secret')
  env.GRAPEVINE_SECRET = 'test secret'

  checkVariables(t, Object.keys(env))
  t.equal(env.GRAPEVINE_HOST, '0.0.0.0', 'listens on every interface')
  t.equal(env.GRAPEVINE_ADVERTISE, undefined, 'no advertise: the node announces POD_IP')
  t.equal(env.GRAPEVINE_PORT, servicePort, 'the node listens on the Service port')
  t.equal(env.GRAPEVINE_SEEDS, `${serviceName ?? '-'}:${servicePort ?? '-'}`, 'seeds: the headless Service DNS name')
  t.doesNotThrow(() => { validateOptions(optionsFrom(env)) }, 'the options pass the node\'s checks')
  t.equal(reachableHost('0.0.0.0', { POD_IP: '10.42.0.7' }), '10.42.0.7', 'a node on 0.0.0.0 announces POD_IP')
})

t.test('the Dockerfile runs the app', async t => {
  const dockerfile = read('examples/deploy/Dockerfile')
  t.match(dockerfile, /COPY examples\/deploy\/app\.ts/, 'copies the app')
  t.match(app, /from 'grapevine-gossip\/fastify'/, 'the app imports the plugin by its published name')
})
