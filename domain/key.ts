import { struct } from './codec.js';
import { AccessId } from './ids.js';
import { Sealed, Sha1Hex, Sha256Hex } from './secret.js';

/** What proxy nodes check a presented secret against; neither gives the secret back. */
export const Verifiers = struct('Verifiers', { sha256: Sha256Hex, mysqlNative: Sha1Hex });
export type Verifiers = typeof Verifiers._A;

/**
 * A freshly generated AccessKey pair as the domain sees it: the AccessID, the secret sealed
 * under the master key, and its verifiers. The plaintext secret stays with the caller that
 * generated it (it answers the request), so no decision can ever record it.
 */
export const IssuedKey = struct('IssuedKey', { accessId: AccessId, secretSealed: Sealed, verifiers: Verifiers });
export type IssuedKey = typeof IssuedKey._A;
