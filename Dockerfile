# The operator image: compiled JavaScript and production dependencies on a slim Node base,
# running as a non-root user. Build with: docker build -t trench-operator .
# (No Docker engine runs on this project's development machines, so CI does not build it;
# `make image-check` compiles the same entry point and starts it without Docker.)

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The lock file spans the npm workspaces; only the root's packages go in this image.
COPY examples/shop/package.json ./examples/shop/
RUN npm ci --no-audit --no-fund --workspaces=false
COPY tsconfig.json tsconfig.build.json ./
COPY charts ./charts
COPY operator ./operator
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --workspaces=false

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/build ./build
COPY package.json ./
# The numeric uid lets the restricted Pod Security Standard verify runAsNonRoot.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "build/operator/main.js"]
