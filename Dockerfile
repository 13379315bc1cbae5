# The keyward image: the service (`node dist/src/main.js`, as `npm start` runs it) and the
# `keyward` CLI, proxy nodes included. docker-compose.yml builds it.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles itself when no prebuilt binary fits the platform.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
# Dependencies first, without the `prepare` build (the sources are not here yet), so a
# change to the sources reuses this layer; better-sqlite3 is the one native addon.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY domain domain
COPY projections projections
COPY src src
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
# package.json comes along for "type": "module": without it Node reads dist/ as CommonJS.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
# `keyward <command>` inside the container, as `npx keyward` is in a checkout; data/ is where
# the embedded SQLite store and KEYWARD_DEV keys go if someone runs the image without a store.
RUN chmod 755 dist/src/cli/main.js \
  && ln -s /app/dist/src/cli/main.js /usr/local/bin/keyward \
  && mkdir data && chown node:node data
USER node
CMD ["node", "dist/src/main.js"]
