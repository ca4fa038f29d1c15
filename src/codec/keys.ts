/** Reads the stamp keys named by the configuration (the local stack's by default), with errors that name the variable. */
import * as fs from 'node:fs';
import type { IdentityConfig } from '../config';
import { FailureType, MlopsError } from '../errors';
import { readSigningKey, readTrustedKeys, type StampSigningKey, type TrustedKeys } from '../identity/stamp';

function readFile(file: string, variable: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new MlopsError(FailureType.Configuration, `${variable}: cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The public keys whose stamps are trusted; none when no file is configured (then every stamp is refused, saying so). */
export function loadTrustedKeys(identity: IdentityConfig): TrustedKeys {
  if (!identity.trustedKeysFile) return new Map();
  return readTrustedKeys(
    readFile(identity.trustedKeysFile, 'MLOPS_STAMP_TRUSTED_KEYS_FILE'),
    `MLOPS_STAMP_TRUSTED_KEYS_FILE (${identity.trustedKeysFile})`,
  );
}

/** The codec server's signing key; a configuration error when none is configured. */
export function loadSigningKey(identity: IdentityConfig): StampSigningKey {
  if (!identity.signingKeyFile)
    throw new MlopsError(
      FailureType.Configuration,
      'MLOPS_STAMP_KEY_FILE: not set, and the local stack has made no stamp key yet: point it at an Ed25519 private key (PEM), or run "npm run stack:up".',
    );
  return readSigningKey(readFile(identity.signingKeyFile, 'MLOPS_STAMP_KEY_FILE'), `MLOPS_STAMP_KEY_FILE (${identity.signingKeyFile})`);
}
