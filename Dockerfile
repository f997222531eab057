# syntax=docker/dockerfile:1
# The single imcloud image: every role (`imcloud gate|dispatch|logic|consumer|admin|file|all`) and the
# operator (`imcloud operator`). Multi-stage: the build stage has the dev tool chain (esbuild,
# protobufjs-cli); the runtime stage has only production dependencies and runs as a non-root
# numeric user (Kubernetes can then verify runAsNonRoot), with a read-only root filesystem.
# A Node.js LTS line that the whole test suite runs on (ADR 0016); Node 20 reached its end of life.
ARG NODE_IMAGE=node:24-trixie-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# protobuf code, then the server bundle (dist/imcloud.js) and the web page (dist/web/)
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    IMCLOUD_HTTP_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
USER 10001:10001
EXPOSE 8080 8090
# node is PID 1: imcloud handles SIGTERM itself (gates drain, the operator hands its Lease back).
ENTRYPOINT ["node", "--enable-source-maps", "/app/bin/imcloud.js"]
CMD ["help"]
