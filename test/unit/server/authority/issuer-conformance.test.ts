/** Today's issuer against the suite every issuer must pass (a fast one will run it too). */
import { PeculiarIssuer } from '#server/authority/peculiar-issuer.js';
import { issuerConformance } from '../../../helpers/issuer-conformance.js';

issuerConformance('peculiar-issuer', (ca, options) => new PeculiarIssuer(ca, options));
