/** `npm run bench:clean`: removes the generated trees and manifests cached under os.tmpdir(). */
import { cleanData } from './lib/datasets.js';

await cleanData();
