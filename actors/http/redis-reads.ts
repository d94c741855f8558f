// Moved to the inspector (actors/inspect/node-reads.ts), which alone reads other subsystems' keys;
// re-exported for the modules here that import it.
export { ping, readGateway, readQueues, type GatewayReading, type Ping, type QueueReading } from '../inspect/node-reads.js';
