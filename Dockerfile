# regauth container image: multi-stage, runs as a non-root user, holds only what the server needs.
#   docker build -t regauth .
#   docker run -v $PWD/config:/config:ro -p 5001:5001 regauth            # serve /config/auth_config.yml
# Like docker_auth's image, the arguments may be just the config path (plus glog flags, ignored).

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# better-sqlite3 (the embedded token store) has no binary it could fetch: it is compiled here.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++
# Scripts are skipped here because `prepare` needs the sources; bcrypt ships prebuilt binaries,
# better-sqlite3 is built against this image's own Node headers (nothing is downloaded).
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm_config_nodedir="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")" npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
# The SQL tables `regauth db init` creates (and `regauth db schema` prints).
COPY schema ./schema
# Type declarations are for the compiler only (mysql2 pulls @types/node in as a peer).
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts \
 && rm -rf node_modules/.cache node_modules/@types

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    REGAUTH_DATA_DIR=/data
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/bin ./bin
COPY --from=build /src/schema ./schema
RUN mkdir -p /data /config /keys && chown node:node /data /keys
USER node
EXPOSE 5001
VOLUME ["/data"]
# Works whether the server listens on http or https (REGAUTH_HEALTH_PORT / _URL to point it elsewhere).
HEALTHCHECK --interval=30s --timeout=5s CMD ["node", "/app/bin/healthcheck"]
ENTRYPOINT ["node", "--max-semi-space-size=32", "/app/bin/regauth"]
CMD ["serve", "/config/auth_config.yml"]
