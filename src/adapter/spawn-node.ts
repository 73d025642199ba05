import type { GossipApi, GossipOptions } from '../core/api.js'
import { GossipError } from '../core/errors.js'

// Placeholder until src/core/gossip.ts lands: then this becomes `Gossip.spawn(options)`.
export async function spawnNode (_options: GossipOptions): Promise<GossipApi> {
  throw new GossipError('ERR_GOSSIP_INVALID_OPTION', 'pass { gossip: node }: spawning a node is not available yet')
}
