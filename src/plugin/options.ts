/**
 * The plugin's options, their defaults, and the checks that make `register()` fail early with a
 * message naming the option, instead of a node that misbehaves later.
 */
import type { FastifyRequest } from 'fastify'
import type { GossipApi, GossipOptions } from '../core/api.js'
import type { MetricsRegistry } from '../core/metrics.js'
import { resolveSummaryOptions } from '../core/cluster-publisher.js'
import { GossipError } from '../core/errors.js'
import { InvalidOptionError } from './errors.js'

export type BridgeAction = 'subscribe' | 'publish'

/** Decides whether the connection that sent `request` may `action` on `topic`. Throwing counts as a refusal. */
export type Authorize = (request: FastifyRequest, topic: string, action: BridgeAction) => boolean | Promise<boolean>

export interface BridgeOptions {
  /** Route of the WebSocket endpoint. Default '/gossip'. */
  path?: string
  /** Called for every subscribe and every publish. Default: everything is allowed. */
  authorize?: Authorize
  /** Largest WebSocket message a client may send, bytes; a larger one closes the connection with 1009. Default 64 KiB. */
  maxPayload?: number
  /** Topics one connection may be subscribed or publishing to at once. Default 32. */
  maxTopicsPerConnection?: number
  /** Publishes one connection may make per `timeWindow` ms. Default 100 per 1000 ms. */
  publishRate?: { max: number, timeWindow?: number }
  /** Bytes that may wait to be written to one client; past it the client is closed with 1013. Default 1 MiB. */
  sendBufferBytes?: number
}

export interface ResolvedBridgeOptions {
  path: string
  authorize: Authorize | undefined
  maxPayload: number
  maxTopicsPerConnection: number
  publishRate: { max: number, timeWindow: number }
  sendBufferBytes: number
}

export interface HealthOptions {
  /** Route of the health check. Default '/gossip/health'. */
  path?: string
}

export interface PluginMetricsOptions {
  /** prom-client registry to register on. Default prom-client's default registry. */
  registry?: MetricsRegistry
}

/** Decides whether the request may see the dashboard (page and data). Throwing counts as a refusal. */
export type DashboardAuthorize = (request: FastifyRequest) => boolean | Promise<boolean>

export interface DashboardOptions {
  /** Route of the page; its data and scripts are served under it. Default '/gossip/dashboard'. */
  path?: string
  /** Called for every request of the page and its data; refused requests get 403. Default: everything is allowed. */
  authorize?: DashboardAuthorize
  /** Ms a node that fell silent stays on the page (greyed) before it leaves. Default 60 000. */
  removeAfter?: number
  /** Ms between two updates sent to an open page. Default 1 000. */
  refresh?: number
}

export interface ResolvedDashboardOptions {
  path: string
  authorize: DashboardAuthorize | undefined
  removeAfter: number
  refresh: number
}

interface PluginOnlyOptions {
  /** Serve the WebSocket bridge: `true` for the defaults, or its options. Default off. */
  bridge?: boolean | BridgeOptions
  /** Serve `GET /gossip/health`: 200 while the node runs and every topic has a neighbour, else 503. Default off. */
  health?: boolean | HealthOptions
  /** Register Prometheus metrics (needs `prom-client`) on prom-client's default registry (`true`) or on `registry`. Default off. */
  metrics?: boolean | PluginMetricsOptions
  /** Serve a page that draws the whole cluster (turns on the node's `clusterSummary`). Default off. */
  dashboard?: boolean | DashboardOptions
}

const PLUGIN_ONLY = new Set(['bridge', 'health', 'metrics', 'dashboard'])

/** Either the options of a node the plugin creates and owns, or `gossip`: a node shared with others, which the plugin never closes. */
export type GrapevineOptions =
  | (GossipOptions & PluginOnlyOptions & { gossip?: undefined })
  | (PluginOnlyOptions & { gossip: GossipApi })

export interface ResolvedOptions {
  gossip: GossipApi | undefined
  node: GossipOptions | undefined
  bridge: ResolvedBridgeOptions | undefined
  /** Path of the health route, when on. */
  health: string | undefined
  /** Metrics options, when on. */
  metrics: PluginMetricsOptions | undefined
  dashboard: ResolvedDashboardOptions | undefined
}

export const bridgeDefaults: Readonly<ResolvedBridgeOptions> = Object.freeze({
  path: '/gossip',
  authorize: undefined,
  maxPayload: 64 * 1024,
  maxTopicsPerConnection: 32,
  publishRate: Object.freeze({ max: 100, timeWindow: 1000 }),
  sendBufferBytes: 1024 * 1024
})

type Check = (value: unknown, name: string) => void

const positiveInt: Check = (value, name) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidOptionError(name, `must be a positive integer, got ${show(value)}`)
  }
}

const port: Check = (value, name) => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new InvalidOptionError(name, `must be an integer from 0 to 65535, got ${show(value)}`)
  }
}

const nonEmptyString: Check = (value, name) => {
  if (typeof value !== 'string' || value.length === 0) throw new InvalidOptionError(name, `must be a non-empty string, got ${show(value)}`)
}

const hostPort: Check = (value, name) => {
  if (typeof value !== 'string' || !/^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):\d{1,5}$/.test(value)) {
    throw new InvalidOptionError(name, `must be "host:port", got ${show(value)}`)
  }
}

const nodeChecks: Record<keyof GossipOptions, Check> = {
  secret: (value, name) => {
    const ok = (typeof value === 'string' && value.length > 0) || (value instanceof Uint8Array && value.length > 0)
    if (!ok) throw new InvalidOptionError(name, 'must be a non-empty string or Uint8Array (the cluster secret)')
  },
  host: nonEmptyString,
  port,
  advertise: hostPort,
  seeds: (value, name) => {
    if (!Array.isArray(value)) throw new InvalidOptionError(name, `must be an array of "host:port" strings, got ${show(value)}`)
    value.forEach((seed, i) => hostPort(seed, `${name}[${i}]`))
  },
  seedRefreshInterval: positiveInt,
  keyPair: (value, name) => {
    const pair = value as { publicKey?: unknown, secretKey?: unknown } | null
    if (typeof pair !== 'object' || pair === null || !(pair.publicKey instanceof Uint8Array) || !(pair.secretKey instanceof Uint8Array)) {
      throw new InvalidOptionError(name, 'must be { publicKey: Uint8Array, secretKey: Uint8Array }')
    }
  },
  protocol: (value, name) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidOptionError(name, 'must be an object')
  },
  maxMessageSize: positiveInt,
  subscriberBufferSize: positiveInt,
  pendingPublishLimit: positiveInt,
  linkWriteBufferBytes: positiveInt,
  handshakeTimeout: positiveInt,
  maxPendingHandshakes: positiveInt,
  keepaliveTimeout: positiveInt,
  clusterSummary: (value, name) => {
    try {
      resolveSummaryOptions(value as GossipOptions['clusterSummary'], name)
    } catch (err) {
      const named = err instanceof GossipError ? /option "([^"]+)" (.*)/.exec(err.message) : null
      if (named === null) throw err
      throw new InvalidOptionError(named[1]!, named[2]!)
    }
  },
  signMessages: (value, name) => {
    if (typeof value !== 'boolean') throw new InvalidOptionError(name, `must be a boolean, got ${show(value)}`)
  },
  logger: (value, name) => {
    const logger = value as Record<string, unknown> | null
    if (typeof logger !== 'object' || logger === null || !['trace', 'debug', 'info', 'warn', 'error'].every(level => typeof logger[level] === 'function')) {
      throw new InvalidOptionError(name, 'must have trace, debug, info, warn and error methods')
    }
  }
}

export function resolveOptions (input: unknown): ResolvedOptions {
  if (typeof input !== 'object' || input === null) throw new InvalidOptionError('options', 'must be an object')
  const options = input as Record<string, unknown>
  const bridge = resolveBridge(options.bridge)
  const health = resolveHealth(options.health)
  const metrics = resolveMetrics(options.metrics)
  const dashboard = resolveDashboard(options.dashboard)

  if (options.gossip !== undefined) {
    const node = options.gossip as Partial<GossipApi> | null
    if (typeof node !== 'object' || node === null || typeof node.stream !== 'function' || typeof node.close !== 'function' || typeof node.nodeId !== 'string') {
      throw new InvalidOptionError('gossip', 'must be a Gossip node (an object with nodeId, stream() and close())')
    }
    for (const key of Object.keys(options)) {
      if (key !== 'gossip' && !PLUGIN_ONLY.has(key) && options[key] !== undefined) {
        throw new InvalidOptionError(key, 'cannot be combined with "gossip": the shared node was configured where it was created')
      }
    }
    return { gossip: node as GossipApi, node: undefined, bridge, health, metrics, dashboard }
  }

  const node: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(options)) {
    if (PLUGIN_ONLY.has(key) || key === 'gossip' || value === undefined) continue
    const check = nodeChecks[key as keyof GossipOptions] as Check | undefined
    if (check === undefined) throw new InvalidOptionError(key, 'is not an option of the plugin or of a gossip node')
    check(value, key)
    node[key] = value
  }
  if (node.secret === undefined) {
    throw new InvalidOptionError('secret', 'is required unless an existing node is passed as "gossip"')
  }
  return { gossip: undefined, node: node as unknown as GossipOptions, bridge, health, metrics, dashboard }
}

function resolveHealth (input: unknown): string | undefined {
  if (input === undefined || input === false) return undefined
  if (input === true) return '/gossip/health'
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InvalidOptionError('health', 'must be true, false or { path }')
  const { path, ...rest } = input as Record<string, unknown>
  const extra = Object.keys(rest)[0]
  if (extra !== undefined) throw new InvalidOptionError(`health.${extra}`, 'is not a health option')
  if (path === undefined) return '/gossip/health'
  if (typeof path !== 'string' || !path.startsWith('/')) throw new InvalidOptionError('health.path', `must be a route path starting with "/", got ${show(path)}`)
  return path
}

function resolveMetrics (input: unknown): PluginMetricsOptions | undefined {
  if (input === undefined || input === false) return undefined
  if (input === true) return {}
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InvalidOptionError('metrics', 'must be true, false or { registry }')
  const { registry, ...rest } = input as Record<string, unknown>
  const extra = Object.keys(rest)[0]
  if (extra !== undefined) throw new InvalidOptionError(`metrics.${extra}`, 'is not a metrics option')
  if (registry === undefined) return {}
  const r = registry as Record<string, unknown> | null
  if (typeof r !== 'object' || r === null || typeof r.registerMetric !== 'function' || typeof r.removeSingleMetric !== 'function' || typeof r.getSingleMetric !== 'function') {
    throw new InvalidOptionError('metrics.registry', 'must be a prom-client Registry')
  }
  return { registry: registry as MetricsRegistry }
}

function resolveDashboard (input: unknown): ResolvedDashboardOptions | undefined {
  if (input === undefined || input === false) return undefined
  const resolved: ResolvedDashboardOptions = { path: '/gossip/dashboard', authorize: undefined, removeAfter: 60_000, refresh: 1000 }
  if (input === true) return resolved
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new InvalidOptionError('dashboard', 'must be true, false or { path, authorize, removeAfter, refresh }')
  const { path, authorize, removeAfter, refresh, ...rest } = input as Record<string, unknown>
  const extra = Object.keys(rest)[0]
  if (extra !== undefined) throw new InvalidOptionError(`dashboard.${extra}`, 'is not a dashboard option')
  if (path !== undefined) {
    if (typeof path !== 'string' || !/^\/[^?#]*[^/?#]$/.test(path)) throw new InvalidOptionError('dashboard.path', `must be a route path starting with "/" and not ending with one, got ${show(path)}`)
    resolved.path = path
  }
  if (authorize !== undefined) {
    if (typeof authorize !== 'function') throw new InvalidOptionError('dashboard.authorize', 'must be a function (request)')
    resolved.authorize = authorize as DashboardAuthorize
  }
  if (removeAfter !== undefined) {
    positiveInt(removeAfter, 'dashboard.removeAfter')
    resolved.removeAfter = removeAfter as number
  }
  if (refresh !== undefined) {
    positiveInt(refresh, 'dashboard.refresh')
    resolved.refresh = Math.max(50, refresh as number)
  }
  return resolved
}

function resolveBridge (input: unknown): ResolvedBridgeOptions | undefined {
  if (input === undefined || input === false) return undefined
  if (input === true) return { ...bridgeDefaults }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidOptionError('bridge', 'must be true, false or an object')
  }
  const bridge = input as Record<string, unknown>
  const known = new Set(['path', 'authorize', 'maxPayload', 'maxTopicsPerConnection', 'publishRate', 'sendBufferBytes'])
  for (const key of Object.keys(bridge)) {
    if (!known.has(key)) throw new InvalidOptionError(`bridge.${key}`, 'is not a bridge option')
  }
  const resolved: ResolvedBridgeOptions = { ...bridgeDefaults }
  if (bridge.path !== undefined) {
    if (typeof bridge.path !== 'string' || !bridge.path.startsWith('/')) {
      throw new InvalidOptionError('bridge.path', `must be a route path starting with "/", got ${show(bridge.path)}`)
    }
    resolved.path = bridge.path
  }
  if (bridge.authorize !== undefined) {
    if (typeof bridge.authorize !== 'function') throw new InvalidOptionError('bridge.authorize', 'must be a function (request, topic, action)')
    resolved.authorize = bridge.authorize as Authorize
  }
  for (const key of ['maxPayload', 'maxTopicsPerConnection', 'sendBufferBytes'] as const) {
    if (bridge[key] !== undefined) {
      positiveInt(bridge[key], `bridge.${key}`)
      resolved[key] = bridge[key] as number
    }
  }
  if (bridge.publishRate !== undefined) {
    const rate = bridge.publishRate as Record<string, unknown> | null
    if (typeof rate !== 'object' || rate === null) throw new InvalidOptionError('bridge.publishRate', 'must be { max, timeWindow }')
    positiveInt(rate.max, 'bridge.publishRate.max')
    if (rate.timeWindow !== undefined) positiveInt(rate.timeWindow, 'bridge.publishRate.timeWindow')
    resolved.publishRate = { max: rate.max as number, timeWindow: (rate.timeWindow as number | undefined) ?? bridgeDefaults.publishRate.timeWindow }
  }
  return resolved
}

function show (value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value)
  return Array.isArray(value) ? 'an array' : typeof value
}
