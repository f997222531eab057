// The helm CLI, for chart tests (`helm template`, `helm install --dry-run=server`
// against the test control plane). No server component.

import { ensureGoBinary, goInstall } from './build.js';

export const HELM_VERSION = 'v4.3.1';

/** Path of the cached helm binary, built on first use. */
export function ensureHelm(): Promise<string> {
  return ensureGoBinary({
    name: 'helm',
    version: HELM_VERSION,
    estimate: '~75 s',
    recipe: 'go install helm.sh/helm/v4/cmd/helm -trimpath -ldflags=-s -w -X version',
    versionCheck: { args: ['version', '--short'], expect: HELM_VERSION },
    // Without the -X, helm reports only "v4.3" (its Makefile stamps the patch level).
    build: (out, go) =>
      goInstall(go, `helm.sh/helm/v4/cmd/helm@${HELM_VERSION}`, out, [
        '-trimpath',
        `-ldflags=-s -w -X helm.sh/helm/v4/internal/version.version=${HELM_VERSION}`,
      ]),
  });
}
