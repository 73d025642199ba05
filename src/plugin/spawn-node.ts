/**
 * Starts the networked node when the app did not pass one. Kept apart so the rest of the plugin
 * depends only on the `GossipApi` contract.
 */
import type { GossipApi, GossipOptions } from '../core/api.js'
import { Gossip } from '../core/gossip.js'

export async function spawnNode (options: GossipOptions): Promise<GossipApi> {
  return await Gossip.spawn(options)
}
