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
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.REGAUTH_HEALTH_PORT||5001)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/app/bin/regauth"]
CMD ["serve", "/config/auth_config.yml"]
