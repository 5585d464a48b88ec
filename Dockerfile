# orders-etl as an image: the worker by default, and every other CLI command with
# `docker run IMAGE node dist/client.js <command>`. docker-compose.yml builds it.
# Build context: the repository root. A .dockerignore listing node_modules, dist, data and .git keeps
# the context small; the build copies only the paths below either way.

FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The package's own `prepare` script compiles TypeScript, and the sources are not here yet: install without
# lifecycle scripts, then run the dependencies' install steps (Temporal's native bridge, swc) with `npm rebuild`.
# `npm install`, not `npm ci`: the lock file records only the native DuckDB/swc builds of the machine that wrote
# it, and npm ci refuses a lock without the image's platform (linux-arm64 on Apple silicon, say).
RUN npm install --ignore-scripts --no-audit --no-fund && npm rebuild
COPY tsconfig.json client.ts worker.ts ./
COPY core ./core
COPY activities ./activities
COPY client ./client
COPY workflows ./workflows
COPY dev ./dev
COPY sample_data ./sample_data
COPY sql ./sql
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/sample_data ./sample_data
COPY --from=build /app/sql ./sql
# State (the DuckDB warehouse, a local lake) goes to /data, a volume in docker-compose.yml.
RUN mkdir -p /data && chown node:node /data
ENV ORDERS_ETL_DATA_DIR=/data
USER node
# 8080: `api`; 9464: the worker's /metrics when METRICS_PORT=9464.
EXPOSE 8080 9464
CMD ["node", "dist/client.js", "worker"]
