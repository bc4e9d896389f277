# regauth container image: multi-stage, runs as a non-root user, holds only what the server needs.
#   docker build -t regauth .
#   docker run -v $PWD/config:/config:ro -p 5001:5001 regauth            # serve /config/auth_config.yml
# Like docker_auth's image, the arguments may be just the config path (plus glog flags, ignored).

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Scripts are skipped here because `prepare` needs the sources; bcrypt ships prebuilt binaries.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts \
 && rm -rf node_modules/.cache

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    REGAUTH_DATA_DIR=/data
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/bin ./bin
RUN mkdir -p /data /config /keys && chown node:node /data /keys
USER node
EXPOSE 5001
VOLUME ["/data"]
# Works whether the server listens on http or https (REGAUTH_HEALTH_PORT / _URL to point it elsewhere).
HEALTHCHECK --interval=30s --timeout=5s CMD ["node", "/app/bin/healthcheck"]
ENTRYPOINT ["node", "/app/bin/regauth"]
CMD ["serve", "/config/auth_config.yml"]
