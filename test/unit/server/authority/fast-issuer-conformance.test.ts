/** The fast issuer against the suite every issuer must pass, every profile it can be asked for, EC and RSA CAs. */
import { FastIssuer } from '#server/authority/fast-issuer.js';
import { issuerConformance } from '../../../helpers/issuer-conformance.js';

issuerConformance('fast-issuer', (ca, options) => new FastIssuer(ca, options));
