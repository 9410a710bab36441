// reject and ereject (RFC 5429).
import { SieveRuntimeError, type ExtensionDef, type Runtime, type VNode } from './runtime.js';

function run(node: VNode, rt: Runtime): void {
  const reason = rt.str(node.pos[0] as string);
  // RFC 5429 §2.1 and §2.2: reject refuses the message; RFC 5429 §2.4: it cannot be combined with another
  // reject, with vacation, or with explicit keep/fileinto (the message would be both kept and refused).
  const clash = rt.actions.find((a) => a.type === 'reject' || a.type === 'vacation' || a.type === 'keep' || a.type === 'fileinto');
  if (clash) throw new SieveRuntimeError(node, `${node.name} cannot be combined with ${clash.type === 'reject' ? (clash.ereject ? 'ereject' : 'reject') : clash.type}`);
  rt.addAction({ type: 'reject', reason, ereject: node.name === 'ereject' });
  rt.implicitKeep = false;
}

export const reject: ExtensionDef = {
  capabilities: ['reject', 'ereject'],
  commands: {
    reject: { ext: 'reject', pos: ['string'], run },
    ereject: { ext: 'ereject', pos: ['string'], run },
  },
};
